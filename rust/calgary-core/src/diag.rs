//! The model's diagnostics, through the `log` facade.
//!
//! The core never prints: it emits `log` records and whoever embeds it
//! decides where they go.  In QEMU the FFI crate installs a logger that
//! forwards [`GUEST_ERROR`] records to `-d guest_errors`, [`UNIMP`] records
//! to `-d unimp` and the rest to a trace event; the host tools use
//! `env_logger` (`RUST_LOG=calgary=debug`).
//!
//! Cost: nothing is formatted unless the logger wants the record, and no
//! record is emitted for a DMA that translates.  Records come only from MMIO
//! guest errors, writes to registers whose function is not modelled, resets,
//! and the one DMA that latches an error into CSR (later blocked DMAs of the
//! same latched error emit nothing).

use log::Level;

use crate::regs::{self, PhbConfigBits, RegId};
use crate::{Fault, GuestErrorKind, MmioEvent, Variant};

/// Target of records about guest programming errors (QEMU's
/// `LOG_GUEST_ERROR`): bad register accesses and blocked DMA.
pub const GUEST_ERROR: &str = "calgary::guest_error";
/// Target of records about guest use of hardware functions the model only
/// stores (QEMU's `LOG_UNIMP`).
pub const UNIMP: &str = "calgary::unimp";
/// Target of everything else (state changes worth a trace line).
pub const MODEL: &str = "calgary::model";
/// Target of fault-injection records (armed, fired); traced like `MODEL`.
pub const INJECT: &str = "calgary::inject";

/// How a chip names itself in records: the name its embedder gave it
/// ([`Chip::set_name`](crate::Chip::set_name)), else its register window.
#[derive(Clone, Copy, Debug)]
pub(crate) struct ChipName<'a> {
    pub name: Option<&'a str>,
    pub bbar: u32,
}

impl std::fmt::Display for ChipName<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self.name {
            Some(n) => f.write_str(n),
            None => write!(f, "calgary@{:#010x}", self.bbar),
        }
    }
}

/// An MMIO access that was a guest error.
pub(crate) fn mmio_guest_error(chip: ChipName<'_>, variant: Variant, ev: &MmioEvent) {
    let MmioEvent::GuestError {
        offset,
        size,
        write,
        kind,
    } = *ev
    else {
        return;
    };
    if !log::log_enabled!(target: GUEST_ERROR, Level::Warn) {
        return;
    }
    let what = if write { "write" } else { "read" };
    match (kind, regs::decode(variant, offset)) {
        (GuestErrorKind::UnknownOffset, _) | (_, None) => log::warn!(
            target: GUEST_ERROR,
            "{chip}: {kind}: {what} of size {size} at offset {offset:#x}"
        ),
        (_, Some(d)) => log::warn!(
            target: GUEST_ERROR,
            "{chip}: {kind}: {what} of size {size} at offset {offset:#x} ({}{})",
            d.reg.name,
            PhbSuffix(d.reg, d.phb)
        ),
    }
}

struct PhbSuffix(&'static regs::RegInfo, usize);

impl std::fmt::Display for PhbSuffix {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self.0.placement {
            regs::Placement::Chip => Ok(()),
            regs::Placement::PerPhb { .. } => write!(f, " of PHB {}", self.1),
        }
    }
}

/// A DMA that latched an error into CSR (the first blocked access since the
/// guest last cleared CSR).
#[cold]
pub(crate) fn dma_latched(chip: ChipName<'_>, f: &Fault, csr: u32) {
    log::warn!(
        target: GUEST_ERROR,
        "{chip}: PHB {} blocked DMA {} by {} at IO address {:#x}: {} (CSR {csr:#010x})",
        f.phb,
        f.dir,
        f.requester,
        f.io_addr,
        f.reason
    );
}

/// A write that the model stores but that changes nothing it emulates.
pub(crate) fn stored_only(chip: ChipName<'_>, reg: RegId, phb: usize, old: u64, new: u64) {
    if old == new || !log::log_enabled!(target: UNIMP, Level::Info) {
        return;
    }
    if reg == RegId::PhbConfigRw {
        let changed = PhbConfigBits::from_bits_retain((old ^ new) as u32);
        if changed.intersects(PhbConfigBits::STORED_ONLY) {
            log::info!(
                target: UNIMP,
                "{chip}: PHB {phb} PHB_CONFIG_RW {:?} changed: stored only, not emulated",
                changed & PhbConfigBits::STORED_ONLY
            );
        }
    } else if regs::STORED_ONLY.contains(&reg) {
        log::info!(
            target: UNIMP,
            "{chip}: {}{} written ({new:#x}): stored only, not emulated",
            reg.info().name,
            PhbSuffix(reg.info(), phb)
        );
    }
}

/// The chip went back to its reset state.
pub(crate) fn reset(chip: ChipName<'_>) {
    log::debug!(target: MODEL, "{chip}: reset");
}
