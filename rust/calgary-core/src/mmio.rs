//! What an MMIO access to the register window reports back: guest errors
//! and the events the FFI logs or traces after dropping its lock.

use core::fmt;

use crate::StopState;

/// What kind of guest error an MMIO access was.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum GuestErrorKind {
    /// No register at this offset (for this variant).
    UnknownOffset,
    /// A register is there but not of this access width (or the size is
    /// not 1/2/4/8).
    BadWidth,
    /// Write to a read-only register; ignored.
    ReadOnly,
    /// A value the register does not accept (e.g. nonzero write to CSR);
    /// ignored.
    ValueIgnored,
}

impl fmt::Display for GuestErrorKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            GuestErrorKind::UnknownOffset => "unknown register offset",
            GuestErrorKind::BadWidth => "bad access width",
            GuestErrorKind::ReadOnly => "write to read-only register",
            GuestErrorKind::ValueIgnored => "written value ignored",
        })
    }
}

/// Something the FFI should log or trace after an MMIO access (after
/// dropping its lock).  At most one per access; see `Chip::mmio_write` for
/// the priority when several happen at once.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum MmioEvent {
    /// A guest error (`-d guest_errors`): the access read 0 / was ignored.
    GuestError {
        /// offset in the 1 MiB window
        offset: u64,
        /// access size in bytes
        size: u32,
        /// write (true) or read
        write: bool,
        /// what was wrong
        kind: GuestErrorKind,
    },
    /// A TAR write invalidated this PHB's TCE cache.
    CacheFlushed {
        /// PHB index
        phb: u8,
    },
    /// The guest wrote 0 to CSR while an error was latched.
    ErrorCleared {
        /// PHB index
        phb: u8,
    },
    /// TCE_ENABLE changed in PHB_CONFIG_RW.
    TranslationEnabled {
        /// PHB index
        phb: u8,
        /// new state
        on: bool,
    },
    /// SLOT_DISABLE bits went from clear to set (or back) in PHB_CONFIG_RW.
    SlotDisabled {
        /// PHB index
        phb: u8,
        /// new state
        on: bool,
    },
    /// CalIOC2 page-migration unit changed state (PMCR).
    StopState {
        /// PHB index
        phb: u8,
        /// new state
        state: StopState,
    },
}

impl fmt::Display for MmioEvent {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match *self {
            MmioEvent::GuestError {
                offset,
                size,
                write,
                kind,
            } => write!(
                f,
                "calgary: {kind}: {} of size {size} at offset {offset:#x}",
                if write { "write" } else { "read" }
            ),
            MmioEvent::CacheFlushed { phb } => write!(f, "calgary: PHB {phb}: TCE cache flushed"),
            MmioEvent::ErrorCleared { phb } => {
                write!(f, "calgary: PHB {phb}: latched DMA error cleared")
            }
            MmioEvent::TranslationEnabled { phb, on } => write!(
                f,
                "calgary: PHB {phb}: translation {}",
                if on { "enabled" } else { "disabled" }
            ),
            MmioEvent::SlotDisabled { phb, on } => write!(
                f,
                "calgary: PHB {phb}: slots {}",
                if on { "disabled" } else { "enabled" }
            ),
            MmioEvent::StopState { phb, state } => {
                write!(f, "calgary: PHB {phb}: page migration {state}")
            }
        }
    }
}
