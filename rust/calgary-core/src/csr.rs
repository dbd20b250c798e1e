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

/// CSR bit 31: an error is latched.
pub const CSR_ERROR: u32 = 0x8000_0000;
/// CSR bits 30..27: reason code.
pub const CSR_REASON_SHIFT: u32 = 27;
/// Mask of the reason code field (after shifting).
pub const CSR_REASON_MASK: u32 = 0xF;
/// CSR bit 26: device write.
pub const CSR_DIR_WRITE: u32 = 0x0400_0000;
/// CSR bit 25: IO address >= 4 GiB.
pub const CSR_ADDR_HIGH: u32 = 0x0200_0000;

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
    let mut csr = CSR_ERROR | (u32::from(f.reason.code()) << CSR_REASON_SHIFT);
    if f.dir == Direction::Write {
        csr |= CSR_DIR_WRITE;
    }
    if f.io_addr > u64::from(u32::MAX) {
        csr |= CSR_ADDR_HIGH;
    }
    csr |= u32::from(f.requester.bus) << 8;
    csr |= u32::from(f.requester.devfn);
    (csr, (f.io_addr & 0xFFFF_FFFF) as u32)
}

/// Decodes CSR/PLSSR; `None` if no error is latched (or the reason code is
/// not one of the model's).
pub fn csr_decode(csr: u32, plssr: u32) -> Option<CsrInfo> {
    if csr & CSR_ERROR == 0 {
        return None;
    }
    let code = ((csr >> CSR_REASON_SHIFT) & CSR_REASON_MASK) as u8;
    let reason = FaultReason::from_code(code)?;
    Some(CsrInfo {
        reason,
        dir: if csr & CSR_DIR_WRITE != 0 {
            Direction::Write
        } else {
            Direction::Read
        },
        requester: Requester {
            bus: ((csr >> 8) & 0xFF) as u8,
            devfn: (csr & 0xFF) as u8,
        },
        io_addr_low: plssr,
        above_4g: csr & CSR_ADDR_HIGH != 0,
    })
}
