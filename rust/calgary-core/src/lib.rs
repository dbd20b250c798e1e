//! Device-model core of the IBM Calgary / CalIOC2 PCI IOMMU.
//!
//! This crate is the whole behaviour of the emulated chip, with no QEMU
//! types, no locks, no global state and no I/O:
//!
//! * [`regs`] — the register map of `calgary-hardware.md` §3 as a table of
//!   data ([`regs::REGISTERS`]): offset, width, name, reset value, access.
//! * [`Chip`] — one chip (4 PHBs): MMIO reads/writes with their side effects
//!   ([`Chip::mmio_read`], [`Chip::mmio_write`]), DMA translation per §4
//!   ([`Chip::translate`]), error capture (CSR/PLSSR latch), the TCE cache
//!   of §5 ([`CachePolicy`]), statistics ([`PhbStats`]) and snapshots
//!   ([`Chip::save`], [`Chip::restore`]).
//! * [`diag`] — the model's diagnostics as `log` records (guest errors,
//!   unemulated functions), zero cost while no logger wants them.
//! * [`inject`] — fault injection per PHB (split queue busy, SoftStopFault,
//!   TCE fetch failure, latched CSR/PLSSR, CalIOC2 error registers), armed
//!   by the host to reach the driver's error paths.
//! * [`rio`] — the Rio Grande table of §2: a builder (what the firmware
//!   places at EBDA+0x180) and a parser that reads it back the way Linux
//!   does.
//! * [`layout`] — where the platform puts the chips: PHB buses and BBARs of
//!   the Rio and legacy (2.6.18/2.6.19) layouts, bus 0 behind PHB 0, and the
//!   firmware's BAR placement that must stay off the register windows.
//!
//! Every method takes `&mut self`; the FFI layer owns the lock.  Nothing in
//! here panics on guest input: unlisted offsets, bad widths, out-of-range
//! DMA and malformed snapshots come back as values.  See `MODEL.md` for the
//! model decisions.

#![deny(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]
#![forbid(unsafe_code)]
#![warn(missing_docs)]

mod cache;
mod chip;
mod config;
mod csr;
pub mod diag;
mod dma;
pub mod inject;
pub mod layout;
mod migrate;
mod mmio;
mod phb;
pub mod platform;
pub mod regs;
pub mod rio;
mod snapshot;
mod tce;
mod variant;

pub use cache::{CacheConfig, CachePolicy, MAX_CACHE_ENTRIES, MAX_CACHE_WAYS};
pub use chip::{Chip, ChipView, MmioTarget};
pub use config::{ChipConfig, ConfigError};
pub use csr::{
    csr_decode, csr_encode, CsrBits, CsrInfo, CSR_ADDR_HIGH, CSR_DIR_WRITE, CSR_ERROR,
    CSR_REASON_MASK, CSR_REASON_SHIFT,
};
pub use dma::{
    Access, Direction, Fault, FaultReason, GuestMemory, Requester, Translation, XlateKind, TCE_LINE,
};
pub use migrate::{CacheLineImage, ChipImage, FaultImage, PhbImage, STAT_COUNT};
pub use mmio::{GuestErrorKind, MmioEvent};
pub use phb::{Phb, PhbConfig, PhbStats, StopState};
pub use snapshot::{SnapshotError, SNAPSHOT_VERSION};
pub use variant::{Variant, LEGACY_WINDOW_END};

/// Size of one chip's register window (the BBAR maps exactly 1 MiB).
pub const CHIP_WINDOW_SIZE: u64 = 1 << 20;
/// PHBs (PCI host bridges) per chip.
pub const PHBS_PER_CHIP: usize = 4;
/// Most chips a platform may offer (Linux overruns `rio_devs[]` beyond
/// 4 entries on a kernel without NUMA, §1).
pub const MAX_CHIPS: usize = 4;
/// TCE page size: every translation is per 4 KiB page.
pub const TCE_PAGE_SIZE: u64 = 1 << 12;
/// Mask of the page offset within a TCE page.
pub const TCE_PAGE_MASK: u64 = TCE_PAGE_SIZE - 1;
