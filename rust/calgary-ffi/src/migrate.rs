//! Migration: the whole-chip snapshot (`calgary_state_save` / `_load`) and
//! field-level images (`calgary_state_export` / `_import`).

use std::ffi::c_char;

use calgary_core::inject::{InjectState, INJECT_STAT_COUNT};
use calgary_core::regs::{REGISTERS, REG_COUNT};
use calgary_core::{CacheLineImage, ChipImage, FaultImage, PhbImage, PHBS_PER_CHIP, STAT_COUNT};

use crate::{chip_ref, guard, put_str, sys};

// The header's sizes are the core's.
const _: () = assert!(sys::CALGARY_REG_COUNT as usize == REG_COUNT);
const _: () = assert!(sys::CALGARY_STAT_COUNT as usize == STAT_COUNT);
const _: () = assert!(sys::CALGARY_INJECT_STAT_COUNT as usize == INJECT_STAT_COUNT);
// Registers 0..CALGARY_REG_COMMON are on both variants, the rest CalIOC2's
// own (the shim migrates those in a CalIOC2 subsection).
const _: () = {
    let mut i = 0;
    while i < REG_COUNT {
        assert!(REGISTERS[i].calioc2_only == (i >= sys::CALGARY_REG_COMMON as usize));
        i += 1;
    }
};

fn fault_out(f: &FaultImage) -> sys::CalgaryFaultRecord {
    sys::CalgaryFaultRecord {
        io_addr: f.io_addr,
        present: u8::from(f.present),
        write: u8::from(f.write),
        bus: f.bus,
        devfn: f.devfn,
        reason: f.reason,
        pad: [0; 3],
    }
}

/// A record with `present` other than 0/1 keeps its fields, so the core's
/// check refuses it (an empty record must be all zero).
fn fault_in(f: &sys::CalgaryFaultRecord) -> FaultImage {
    FaultImage {
        present: f.present != 0,
        io_addr: f.io_addr,
        write: f.write != 0,
        bus: f.bus,
        devfn: f.devfn,
        reason: if f.present > 1 || f.write > 1 {
            u8::MAX
        } else {
            f.reason
        },
    }
}

/// See `calgary-ffi.h`.
///
/// # Safety
/// None beyond the C ABI: any index is accepted.
#[no_mangle]
pub unsafe extern "C" fn calgary_reg_name(index: u32) -> *const c_char {
    guard("calgary_reg_name", std::ptr::null(), || {
        // The table's names are static Rust strings, not NUL-terminated: keep
        // NUL-terminated copies, built once.
        static NAMES: std::sync::OnceLock<Vec<std::ffi::CString>> = std::sync::OnceLock::new();
        let names = NAMES.get_or_init(|| {
            REGISTERS
                .iter()
                .map(|r| std::ffi::CString::new(r.name).unwrap_or_default())
                .collect()
        });
        names
            .get(index as usize)
            .map_or(std::ptr::null(), |n| n.as_ptr())
    })
}
check_abi!(calgary_reg_name: unsafe extern "C" fn(u32) -> *const c_char);

/// See `calgary-ffi.h`.
///
/// # Safety
/// `img` points at 4 writable images whose `lines` have room for `n_lines`.
#[no_mangle]
pub unsafe extern "C" fn calgary_state_export(
    chip: *mut sys::CalgaryChip,
    img: *mut sys::CalgaryPhbImage,
    err: *mut c_char,
    err_len: usize,
) -> bool {
    guard("calgary_state_export", false, || {
        let Some(c) = chip_ref(chip) else {
            put_str(err, err_len, "no chip");
            return false;
        };
        if img.is_null() {
            put_str(err, err_len, "no image buffer");
            return false;
        }
        let Some(image) = c.with(None, |chip, _| Some(chip.export_image())) else {
            put_str(
                err,
                err_len,
                "the chip model failed; its state cannot be saved until a reset",
            );
            return false;
        };
        // SAFETY: the caller gave 4 images.
        let out = unsafe { std::slice::from_raw_parts_mut(img, PHBS_PER_CHIP) };
        for (o, p) in out.iter_mut().zip(image.phbs.iter()) {
            let room = if o.lines.is_null() {
                0
            } else {
                o.n_lines as usize
            };
            if p.cache_lines.len() > room {
                put_str(err, err_len, "more valid TCE cache lines than room given");
                return false;
            }
            o.regs = p.regs;
            o.latched = fault_out(&p.latched);
            o.last = fault_out(&p.last_fault);
            o.stats = p.stats;
            o.cache_clock = p.cache_clock;
            o.n_lines = p.cache_lines.len() as u32;
            o.pad = 0;
            o.inject_split_busy = p.inject.split_busy;
            o.inject_softstop_faults = p.inject.softstop_faults;
            o.inject_tce_fetch_fail = p.inject.tce_fetch_fail;
            o.inject_error_latched = u8::from(p.inject.error_latched);
            o.pad2 = [0; 3];
            o.inject_stats = p.inject_stats;
            for (i, l) in p.cache_lines.iter().enumerate() {
                // SAFETY: i < room, the buffer's size.
                unsafe {
                    *o.lines.add(i) = sys::CalgaryCacheLine {
                        stamp: l.stamp,
                        tce: l.tce,
                        slot: l.slot,
                        tag: l.tag,
                    };
                }
            }
        }
        true
    })
}
check_abi!(calgary_state_export: unsafe extern "C" fn(*mut sys::CalgaryChip, *mut sys::CalgaryPhbImage, *mut c_char, usize) -> bool);

/// See `calgary-ffi.h`.
///
/// # Safety
/// `img` points at 4 readable images whose `lines` hold `n_lines` lines.
#[no_mangle]
pub unsafe extern "C" fn calgary_state_import(
    chip: *mut sys::CalgaryChip,
    img: *const sys::CalgaryPhbImage,
    err: *mut c_char,
    err_len: usize,
) -> bool {
    guard("calgary_state_import", false, || {
        let Some(c) = chip_ref(chip) else {
            put_str(err, err_len, "no chip");
            return false;
        };
        if img.is_null() {
            put_str(err, err_len, "no image");
            return false;
        }
        // SAFETY: the caller gave 4 images.
        let input = unsafe { std::slice::from_raw_parts(img, PHBS_PER_CHIP) };
        let phbs: [PhbImage; PHBS_PER_CHIP] = std::array::from_fn(|i| {
            let p = &input[i];
            let lines = if p.lines.is_null() || p.n_lines == 0 {
                &[][..]
            } else {
                // SAFETY: the caller gave n_lines lines.
                unsafe { std::slice::from_raw_parts(p.lines, p.n_lines as usize) }
            };
            PhbImage {
                regs: p.regs,
                latched: fault_in(&p.latched),
                last_fault: fault_in(&p.last),
                stats: p.stats,
                cache_clock: p.cache_clock,
                cache_lines: lines
                    .iter()
                    .map(|l| CacheLineImage {
                        slot: l.slot,
                        tag: l.tag,
                        stamp: l.stamp,
                        tce: l.tce,
                    })
                    .collect(),
                inject: InjectState {
                    split_busy: p.inject_split_busy,
                    softstop_faults: p.inject_softstop_faults,
                    tce_fetch_fail: p.inject_tce_fetch_fail,
                    error_latched: p.inject_error_latched != 0,
                },
                inject_stats: p.inject_stats,
            }
        });
        let image = ChipImage { phbs };
        match c.with(Err("internal error".to_string()), |chip, _| {
            chip.import_image(&image).map_err(|e| e.to_string())
        }) {
            Ok(()) => true,
            Err(msg) => {
                put_str(err, err_len, &msg);
                false
            }
        }
    })
}
check_abi!(calgary_state_import: unsafe extern "C" fn(*mut sys::CalgaryChip, *const sys::CalgaryPhbImage, *mut c_char, usize) -> bool);

/// See `calgary-ffi.h`.
///
/// # Safety
/// Pointer arguments are valid for the access the header describes, or NULL.
#[no_mangle]
pub unsafe extern "C" fn calgary_state_save(
    chip: *mut sys::CalgaryChip,
    buf: *mut u8,
    len: usize,
) -> usize {
    guard("calgary_state_save", 0, || {
        let Some(c) = chip_ref(chip) else {
            return 0;
        };
        let bytes = c.with(Vec::new(), |chip, _| chip.save());
        if !buf.is_null() && len >= bytes.len() {
            // SAFETY: the caller gave `len` writable bytes.
            unsafe { std::ptr::copy_nonoverlapping(bytes.as_ptr(), buf, bytes.len()) };
        }
        bytes.len()
    })
}
check_abi!(calgary_state_save: unsafe extern "C" fn(*mut sys::CalgaryChip, *mut u8, usize) -> usize);

/// See `calgary-ffi.h`.
///
/// # Safety
/// Pointer arguments are valid for the access the header describes, or NULL.
#[no_mangle]
pub unsafe extern "C" fn calgary_state_load(
    chip: *mut sys::CalgaryChip,
    buf: *const u8,
    len: usize,
    err: *mut c_char,
    err_len: usize,
) -> bool {
    guard("calgary_state_load", false, || {
        let Some(c) = chip_ref(chip) else {
            put_str(err, err_len, "no chip");
            return false;
        };
        let bytes: &[u8] = if buf.is_null() || len == 0 {
            &[]
        } else {
            // SAFETY: the caller gave `len` readable bytes.
            unsafe { std::slice::from_raw_parts(buf, len) }
        };
        match c.with(Err("internal error".to_string()), |chip, _| {
            chip.restore(bytes).map_err(|e| e.to_string())
        }) {
            Ok(()) => true,
            Err(msg) => {
                put_str(err, err_len, &msg);
                false
            }
        }
    })
}
check_abi!(calgary_state_load: unsafe extern "C" fn(*mut sys::CalgaryChip, *const u8, usize, *mut c_char, usize) -> bool);
