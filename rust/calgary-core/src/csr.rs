//! The model's encoding of a latched DMA error in CSR and PLSSR (§4 model
//! decision).
//!
//! CSR (32 bits, as the big-endian register holds it):
//!
//! | bits   | meaning |
//! |--------|---------|
//! | 31     | ERROR: an error is latched (always 1 when latched, so `CSR & 0xFFE0FFFF != 0`) |
//! | 30..27 | reason code: 1 slot disabled, 2 out of range, 3 TCE read failed, 4 TCE not valid, 5 write to read-only TCE, 6 read from write-only TCE |
//! | 26     | direction: 1 = device write to memory, 0 = device read |
//! | 25     | IO address at or above 4 GiB (PLSSR only holds its low 32 bits) |
//! | 24..16 | 0 (bits 20..16 are the ones Linux masks out) |
//! | 15..8  | requester bus |
//! | 7..0   | requester devfn |
//!
//! PLSSR: bits 31..0 of the faulting IO address.
//!
//! Both read 0 when nothing is latched; a guest write of 0 to CSR clears both.

use crate::{Direction, Fault, FaultReason, Requester};

bitflags::bitflags! {
    /// CSR as this model encodes a latched error (table above).  REASON,
    /// BUS and DEVFN are fields, not flags.
    #[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
    pub struct CsrBits: u32 {
        /// Bit 31: an error is latched.
        const ERROR = 0x8000_0000;
        /// Bits 30..27: reason code.
        const REASON = 0x7800_0000;
        /// Bit 26: the DMA was a device write to memory.
        const DIR_WRITE = 0x0400_0000;
        /// Bit 25: the IO address was at or above 4 GiB.
        const ADDR_HIGH = 0x0200_0000;
        /// Bits 15..8: requester bus.
        const BUS = 0x0000_FF00;
        /// Bits 7..0: requester devfn.
        const DEVFN = 0x0000_00FF;
    }
}

/// CSR bit 31: an error is latched.
pub const CSR_ERROR: u32 = CsrBits::ERROR.bits();
/// CSR bits 30..27: reason code.
pub const CSR_REASON_SHIFT: u32 = CsrBits::REASON.bits().trailing_zeros();
/// Mask of the reason code field (after shifting).
pub const CSR_REASON_MASK: u32 = CsrBits::REASON.bits() >> CSR_REASON_SHIFT;
/// CSR bit 26: device write.
pub const CSR_DIR_WRITE: u32 = CsrBits::DIR_WRITE.bits();
/// CSR bit 25: IO address >= 4 GiB.
pub const CSR_ADDR_HIGH: u32 = CsrBits::ADDR_HIGH.bits();

/// Fields of a latched error, decoded from CSR and PLSSR.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct CsrInfo {
    /// Why the DMA was blocked.
    pub reason: FaultReason,
    /// Direction.
    pub dir: Direction,
    /// Requester.
    pub requester: Requester,
    /// Low 32 bits of the IO address (PLSSR).
    pub io_addr_low: u32,
    /// The IO address had bits above 31 set.
    pub above_4g: bool,
}

/// CSR and PLSSR values for a fault.
pub fn csr_encode(f: &Fault) -> (u32, u32) {
    let reason = CsrBits::from_bits_retain(u32::from(f.reason.code()) << CSR_REASON_SHIFT);
    let mut csr = CsrBits::ERROR | (reason & CsrBits::REASON);
    csr.set(CsrBits::DIR_WRITE, f.dir == Direction::Write);
    csr.set(CsrBits::ADDR_HIGH, f.io_addr > u64::from(u32::MAX));
    csr |= CsrBits::from_bits_retain(u32::from(f.requester.bus) << 8) & CsrBits::BUS;
    csr |= CsrBits::from_bits_retain(u32::from(f.requester.devfn)) & CsrBits::DEVFN;
    (csr.bits(), (f.io_addr & 0xFFFF_FFFF) as u32)
}

/// Decodes CSR/PLSSR; `None` if no error is latched (or the reason code is
/// not one of the model's).
pub fn csr_decode(csr: u32, plssr: u32) -> Option<CsrInfo> {
    let csr = CsrBits::from_bits_retain(csr);
    if !csr.contains(CsrBits::ERROR) {
        return None;
    }
    let code = ((csr & CsrBits::REASON).bits() >> CSR_REASON_SHIFT) as u8;
    let reason = FaultReason::from_code(code)?;
    Some(CsrInfo {
        reason,
        dir: if csr.contains(CsrBits::DIR_WRITE) {
            Direction::Write
        } else {
            Direction::Read
        },
        requester: Requester {
            bus: ((csr & CsrBits::BUS).bits() >> 8) as u8,
            devfn: (csr & CsrBits::DEVFN).bits() as u8,
        },
        io_addr_low: plssr,
        above_4g: csr.contains(CsrBits::ADDR_HIGH),
    })
}
