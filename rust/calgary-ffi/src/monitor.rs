//! What the monitor and QOM show of a PHB: its statistics (`calgary_phb_stats`, the `stat-*` properties) and its one-line
//! summary (`calgary_phb_summary`, `info calgary`).

use std::ffi::c_char;
use std::fmt::Write as _;

use calgary_core::regs::{PhbConfigBits, RegId};
use calgary_core::{Chip, FaultReason, StopState, Variant, PHBS_PER_CHIP};

use crate::{chip_ref, guard, inject, put_str, sys};

/// See `calgary-ffi.h`.
///
/// # Safety
/// Pointer arguments are valid for the access the header describes, or NULL.
#[no_mangle]
pub unsafe extern "C" fn calgary_phb_stats(
    chip: *mut sys::CalgaryChip,
    phb: u32,
    out: *mut sys::CalgaryPhbStats,
) -> bool {
    guard("calgary_phb_stats", false, || {
        // SAFETY: the caller passes a valid result slot or NULL.
        let (Some(c), Some(out)) = (chip_ref(chip), unsafe { out.as_mut() }) else {
            return false;
        };
        let phb = phb as usize;
        if phb >= PHBS_PER_CHIP {
            return false;
        }
        let got = c.with_phbs(1 << phb, None, |chip, _| {
            chip.stats(phb).map(|s| {
                (
                    s,
                    chip.phb_csr(phb),
                    chip.phb_plssr(phb),
                    chip.reg(phb, calgary_core::regs::RegId::PhbConfigRw),
                    chip.tar(phb),
                )
            })
        });
        let Some((s, csr, plssr, cfg, tar)) = got else {
            return false;
        };
        let mut by_reason = [0u64; 8];
        for r in FaultReason::ALL {
            if let Some(slot) = by_reason.get_mut(usize::from(r.code())) {
                *slot = s.blocked(r);
            }
        }
        *out = sys::CalgaryPhbStats {
            translations: s.translations,
            cache_hits: s.cache_hits,
            cache_misses: s.cache_misses,
            stale_hits: s.stale_hits,
            tce_fetches: s.tce_fetches,
            flushes: s.flushes,
            blocked: by_reason.iter().sum(),
            bypassed: s.bypassed,
            window: s.window,
            blocked_by_reason: by_reason,
            csr,
            plssr,
            phb_config: cfg as u32,
            pad: 0,
            tar,
        };
        true
    })
}
check_abi!(calgary_phb_stats: unsafe extern "C" fn(*mut sys::CalgaryChip, u32, *mut sys::CalgaryPhbStats) -> bool);

/// The one-line PHB description of `calgary_phb_summary`.
fn phb_summary(chip: &Chip, phb: usize) -> Option<String> {
    let s = chip.stats(phb)?;
    let cfg = PhbConfigBits::from_bits_retain(chip.reg(phb, RegId::PhbConfigRw) as u32);
    let state = if cfg.intersects(PhbConfigBits::SLOT_DISABLE) {
        "slot-disabled"
    } else if chip.translation_enabled(phb) {
        "on"
    } else {
        "off"
    };
    let mut out = String::with_capacity(320);
    let _ = write!(
        out,
        "translation={state} tar={:#x} csr={:#010x} plssr={:#010x} \
         translations={} hits={} misses={} stale-hits={} tce-fetches={} \
         flushes={} blocked={} bypassed={} window={}",
        chip.tar(phb),
        chip.phb_csr(phb),
        chip.phb_plssr(phb),
        s.translations,
        s.cache_hits,
        s.cache_misses,
        s.stale_hits,
        s.tce_fetches,
        s.flushes,
        s.blocked_total(),
        s.bypassed,
        s.window,
    );
    if chip.variant() == Variant::CalIoc2 {
        let stop = match chip.stop_state(phb) {
            StopState::Running => "running",
            StopState::SoftStop => "soft-stop",
            StopState::HardStop => "hard-stop",
        };
        let _ = write!(out, " page-migration={stop}");
    }
    if let Some(f) = chip.last_fault(phb) {
        let _ = write!(
            out,
            " last-fault=[{} by {} at {:#x}: {}]",
            f.dir, f.requester, f.io_addr, f.reason
        );
    }
    inject::summary_suffix(chip, phb, &mut out);
    Some(out)
}

/// See `calgary-ffi.h`.
///
/// # Safety
/// Pointer arguments are valid for the access the header describes, or NULL.
#[no_mangle]
pub unsafe extern "C" fn calgary_phb_summary(
    chip: *mut sys::CalgaryChip,
    phb: u32,
    buf: *mut c_char,
    len: usize,
) -> usize {
    guard("calgary_phb_summary", 0, || {
        let Some(c) = chip_ref(chip) else {
            return 0;
        };
        let phb = phb as usize;
        if phb >= PHBS_PER_CHIP {
            return 0;
        }
        let line = c
            .with_phbs(1 << phb, None, |chip, _| phb_summary(chip, phb))
            .unwrap_or_else(|| "model failed; DMA blocked until reset".to_string());
        put_str(buf, len, &line);
        line.len()
    })
}
check_abi!(calgary_phb_summary: unsafe extern "C" fn(*mut sys::CalgaryChip, u32, *mut c_char, usize) -> usize);
