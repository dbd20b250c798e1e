//! A reference translation written directly from calgary-hardware.md §4,
//! independent of the model's code: registers are read through the side-
//! effect-free `mmio_peek`, the TCE straight from memory (no cache).  Used
//! by the property tests and the fuzz target as the oracle.
#![allow(dead_code)]

use calgary_core::{Chip, Direction, FaultReason, GuestMemory, Variant};

fn peek(c: &Chip, off: u64, size: u32) -> u64 {
    c.mmio_peek(off, size).unwrap_or(0)
}

/// Ok(physical address) or the fault reason.
pub fn reference_translate(
    c: &Chip,
    phb: usize,
    a: u64,
    dir: Direction,
    mem: &dyn GuestMemory,
) -> Result<u64, FaultReason> {
    if phb > 3 {
        return Err(FaultReason::OutOfRange);
    }
    let base = 0x8000 + 0x1000 * phb as u64;
    let cfg = peek(c, base + 0x160, 4);
    if cfg & 0x1C00_0000 != 0 {
        return Err(FaultReason::SlotDisabled);
    }
    if cfg & 0x2000_0000 == 0 {
        return Ok(a);
    }
    let legacy_start = match c.variant() {
        Variant::Calgary => 640 * 1024,
        Variant::CalIoc2 => 0,
    };
    if a >= legacy_start && a < 1024 * 1024 {
        return Ok(a);
    }
    let m1_start = (peek(c, base + 0x1A0, 4) << 32) | peek(c, base + 0x190, 4);
    let m1_last = peek(c, base + 0x1C0, 4) | 0xFFFFF;
    if m1_start <= a && a <= m1_last {
        return Ok(a);
    }
    if cfg & 0x0040_0000 != 0 {
        let m2_start = (peek(c, base + 0x2C0, 4) << 32) | peek(c, base + 0x2B0, 4);
        let m2_last = ((peek(c, base + 0x2D0, 4) << 32) | peek(c, base + 0x2E0, 4)) | 0xFFFFF;
        if m2_start <= a && a <= m2_last {
            return Ok(a);
        }
    }
    let tar = peek(c, 0x580 + 8 * phb as u64, 8);
    let entries = 8192u64 << (tar & 7);
    let idx = a >> 12;
    if idx >= entries {
        return Err(FaultReason::OutOfRange);
    }
    let table = tar & 0x0000_FFFF_FFFF_8000;
    let tce = mem
        .read_u64_be(table + idx * 8)
        .ok_or(FaultReason::TceReadFailed)?;
    let (r, w) = (tce & 1 != 0, tce & 2 != 0);
    if !r && !w {
        return Err(FaultReason::NotValid);
    }
    match dir {
        Direction::Read if !r => return Err(FaultReason::WriteOnly),
        Direction::Write if !w => return Err(FaultReason::ReadOnly),
        _ => {}
    }
    Ok((tce & 0x0000_FFFF_FFFF_F000) | (a & 0xFFF))
}
