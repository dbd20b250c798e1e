//! A DMA as the IOMMU sees it: guest memory for the TCE fetch, the request
//! (direction, requester, who asks) and its outcome (a translation or a
//! fault with its reason).

use core::fmt;

/// Guest physical memory as the TCE fetch sees it.
pub trait GuestMemory {
    /// Reads 8 bytes at `addr` and returns them as a big-endian u64, or
    /// `None` if the read failed (unbacked, MMIO error...).  A failed read
    /// blocks the DMA with [`FaultReason::TceReadFailed`].
    fn read_u64_be(&self, addr: u64) -> Option<u64>;

    /// Reads the `TCE_LINE` consecutive big-endian TCEs of one 64-byte,
    /// 64-byte aligned line at `addr` (TCE line fill); `false` if the read
    /// failed. The default reads them one by one.
    fn read_tce_line(&self, addr: u64, out: &mut [u64; TCE_LINE]) -> bool {
        for (i, slot) in out.iter_mut().enumerate() {
            let Some(a) = addr.checked_add(8 * i as u64) else {
                return false;
            };
            match self.read_u64_be(a) {
                Some(v) => *slot = v,
                None => return false,
            }
        }
        true
    }
}

/// TCEs per cache line when line fill is on (one 64-byte line).
pub const TCE_LINE: usize = 8;

/// Direction of a DMA, from the device's point of view.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Direction {
    /// Device reads memory (DMA to the device): needs the TCE read bit.
    Read,
    /// Device writes memory: needs the TCE write bit.
    Write,
}

impl fmt::Display for Direction {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Direction::Read => "read",
            Direction::Write => "write",
        })
    }
}

/// Who is asking for a translation.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Access {
    /// A real DMA of a device: counted, may latch an error in CSR, may
    /// fill the TCE cache.
    Device,
    /// QEMU's own look-up (IOMMU_NONE, replay, validity check).  Never
    /// latches CSR, never counts as blocked, never changes the cache
    /// (a miss reads memory but does not fill).  The direction check is
    /// skipped: a probe of a TCE with at least one permission bit succeeds
    /// and the returned [`Translation`] carries the TCE's read/write bits;
    /// a TCE with no permission bit still faults with `NotValid`.
    Probe,
}

/// PCI requester ID of the DMA.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Default)]
pub struct Requester {
    /// Bus number.
    pub bus: u8,
    /// Device/function (slot << 3 | function).
    pub devfn: u8,
}

impl fmt::Display for Requester {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{:02x}:{:02x}.{}",
            self.bus,
            self.devfn >> 3,
            self.devfn & 7
        )
    }
}

/// How an address got through.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum XlateKind {
    /// Through a TCE.
    Translated,
    /// Translation is off on this PHB (TCE_ENABLE clear): identity.
    Bypass,
    /// Inside an untranslated window (legacy 640K/0..1M, MEM_1, MEM_2):
    /// identity.
    Window,
}

/// A successful translation of one IO address.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Translation {
    /// Physical address of `io_addr` itself (page offset included).
    pub phys: u64,
    /// `io_addr & !addr_mask ..= io_addr | addr_mask` translates to
    /// `phys & !addr_mask ..` with the same permissions.  0xfff for a TCE
    /// page and for bypass; for a window page, 0xfff if the whole 4 KiB page
    /// lies inside the window, else 0 (one byte).
    pub addr_mask: u64,
    /// The device may read memory through this mapping.
    pub read: bool,
    /// The device may write memory through this mapping.
    pub write: bool,
    /// How it was resolved.
    pub kind: XlateKind,
}

/// Why a DMA was blocked.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum FaultReason {
    /// PHB_CONFIG_RW has a SLOT_DISABLE bit set (§4 step 1).
    SlotDisabled,
    /// IO page index >= table entries (§4 step 4).
    OutOfRange,
    /// The TCE could not be read from guest memory (§4 step 5).
    TceReadFailed,
    /// The TCE has no permission bit at all (never mapped, or freed).
    NotValid,
    /// Device write through a TCE that only allows reads.
    ReadOnly,
    /// Device read through a TCE that only allows writes.
    WriteOnly,
}

impl FaultReason {
    /// All reasons, in code order.
    pub const ALL: [FaultReason; 6] = [
        FaultReason::SlotDisabled,
        FaultReason::OutOfRange,
        FaultReason::TceReadFailed,
        FaultReason::NotValid,
        FaultReason::ReadOnly,
        FaultReason::WriteOnly,
    ];

    /// The 4-bit code stored in CSR bits 30..27 (1..=6).
    pub const fn code(self) -> u8 {
        match self {
            FaultReason::SlotDisabled => 1,
            FaultReason::OutOfRange => 2,
            FaultReason::TceReadFailed => 3,
            FaultReason::NotValid => 4,
            FaultReason::ReadOnly => 5,
            FaultReason::WriteOnly => 6,
        }
    }

    /// Inverse of [`FaultReason::code`].
    pub fn from_code(c: u8) -> Option<Self> {
        match c {
            1 => Some(FaultReason::SlotDisabled),
            2 => Some(FaultReason::OutOfRange),
            3 => Some(FaultReason::TceReadFailed),
            4 => Some(FaultReason::NotValid),
            5 => Some(FaultReason::ReadOnly),
            6 => Some(FaultReason::WriteOnly),
            _ => None,
        }
    }

    /// Short name, for logs.
    pub fn as_str(self) -> &'static str {
        match self {
            FaultReason::SlotDisabled => "slot disabled",
            FaultReason::OutOfRange => "IO address beyond TCE table",
            FaultReason::TceReadFailed => "TCE read failed",
            FaultReason::NotValid => "TCE not valid (no permission)",
            FaultReason::ReadOnly => "write to read-only TCE",
            FaultReason::WriteOnly => "read from write-only TCE",
        }
    }
}

impl fmt::Display for FaultReason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A blocked DMA (a translation that produced no address).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Fault {
    /// PHB index 0..3.
    pub phb: u8,
    /// The IO (bus) address the device used.
    pub io_addr: u64,
    /// Direction of the DMA.
    pub dir: Direction,
    /// Who did it.
    pub requester: Requester,
    /// Why it was blocked.
    pub reason: FaultReason,
    /// True only for the device access that latched this error into CSR
    /// (the FFI logs once per latched error).  Always false for probes.
    pub newly_latched: bool,
}

impl fmt::Display for Fault {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "DMA {} blocked on PHB {}: device {} io address {:#x}: {}",
            self.dir, self.phb, self.requester, self.io_addr, self.reason
        )
    }
}
