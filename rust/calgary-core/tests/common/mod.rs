//! Helpers shared by the integration tests: an in-memory guest, chip
//! configurations, and big-endian register accessors that behave like the
//! QEMU side (which delivers the register's numeric value).
#![allow(
    dead_code,
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::indexing_slicing,
    clippy::panic
)]

pub mod linux;
pub mod reference;

use std::cell::RefCell;

use calgary_core::regs;
use calgary_core::*;

/// Guest RAM as a flat byte array starting at physical 0.
pub struct VecMem {
    pub bytes: RefCell<Vec<u8>>,
}

impl VecMem {
    pub fn new(size: usize) -> Self {
        VecMem {
            bytes: RefCell::new(vec![0; size]),
        }
    }
    pub fn write_u64_be(&self, addr: u64, v: u64) {
        let a = addr as usize;
        self.bytes.borrow_mut()[a..a + 8].copy_from_slice(&v.to_be_bytes());
    }
    /// Zeroes `len` bytes at `addr`.
    pub fn zero(&self, addr: u64, len: u64) {
        let a = addr as usize;
        self.bytes.borrow_mut()[a..a + len as usize].fill(0);
    }
    pub fn read_raw_u64_be(&self, addr: u64) -> u64 {
        let a = addr as usize;
        u64::from_be_bytes(self.bytes.borrow()[a..a + 8].try_into().unwrap())
    }
}

impl GuestMemory for VecMem {
    fn read_u64_be(&self, addr: u64) -> Option<u64> {
        let a = usize::try_from(addr).ok()?;
        let end = a.checked_add(8)?;
        let b = self.bytes.borrow();
        let s = b.get(a..end)?;
        Some(u64::from_be_bytes(s.try_into().ok()?))
    }
}

/// A guest memory whose every read fails.
pub struct NoMem;
impl GuestMemory for NoMem {
    fn read_u64_be(&self, _addr: u64) -> Option<u64> {
        None
    }
}

pub const BBAR: u32 = 0xfef0_0000;

pub fn phb_cfg(bus: u8) -> PhbConfig {
    PhbConfig {
        first_bus: bus,
        last_bus: bus,
        mem1_start: 0xC000_0000,
        mem1_limit: 0xFFFF_FFFF,
    }
}

pub fn cfg(variant: Variant, policy: CachePolicy) -> ChipConfig {
    ChipConfig {
        variant,
        bbar: BBAR,
        chassis: 1,
        phbs: [phb_cfg(0x10), phb_cfg(0x20), phb_cfg(0x30), phb_cfg(0x40)],
        cache: CacheConfig {
            policy,
            entries: 64,
            ways: 4,
        },
    }
}

pub fn chip(variant: Variant, policy: CachePolicy) -> Chip {
    Chip::new(cfg(variant, policy)).unwrap()
}

pub fn calgary() -> Chip {
    chip(Variant::Calgary, CachePolicy::Faithful)
}

pub fn calioc2() -> Chip {
    chip(Variant::CalIoc2, CachePolicy::Faithful)
}

/// Linux `be32_to_cpu(readl())`: the register's numeric value.
pub fn readl(c: &mut Chip, off: u64) -> u32 {
    let (v, ev) = c.mmio_read(off, 4);
    assert!(
        !matches!(ev, Some(MmioEvent::GuestError { .. })),
        "unexpected guest error reading {off:#x}: {ev:?}"
    );
    v as u32
}

/// Linux `writel(cpu_to_be32(v))`.
pub fn writel(c: &mut Chip, off: u64, v: u32) -> Option<MmioEvent> {
    let ev = c.mmio_write(off, 4, u64::from(v));
    assert!(
        !matches!(ev, Some(MmioEvent::GuestError { .. })),
        "unexpected guest error writing {off:#x}: {ev:?}"
    );
    ev
}

/// Linux `be64_to_cpu(readq())`.
pub fn readq(c: &mut Chip, off: u64) -> u64 {
    let (v, ev) = c.mmio_read(off, 8);
    assert!(!matches!(ev, Some(MmioEvent::GuestError { .. })));
    v
}

/// Linux `writeq(cpu_to_be64(v))`.
pub fn writeq(c: &mut Chip, off: u64, v: u64) -> Option<MmioEvent> {
    let ev = c.mmio_write(off, 8, v);
    assert!(!matches!(ev, Some(MmioEvent::GuestError { .. })));
    ev
}

/// Linux `readq()` WITHOUT byte swap on little-endian x86: the QEMU side
/// stores the register value big-endian into the access buffer and the CPU
/// loads it little-endian.
pub fn readq_raw_x86(c: &mut Chip, off: u64) -> u64 {
    let v = readq(c, off);
    u64::from_le_bytes(v.to_be_bytes())
}

/// Linux `readl()` without swap on x86.
pub fn readl_raw_x86(c: &mut Chip, off: u64) -> u32 {
    let v = readl(c, off);
    u32::from_le_bytes(v.to_be_bytes())
}

/// Linux `writel(v)` without swap on x86 (v as the CPU holds it).
pub fn writel_raw_x86(c: &mut Chip, off: u64, v: u32) {
    writel(c, off, u32::from_be_bytes(v.to_le_bytes()));
}

/// Linux `writeq(v)` without swap on x86.
pub fn writeq_raw_x86(c: &mut Chip, off: u64, v: u64) {
    writeq(c, off, u64::from_be_bytes(v.to_le_bytes()));
}

pub const DEV: Requester = Requester {
    bus: 0x10,
    devfn: 0x08,
};

pub fn dma(
    c: &mut Chip,
    phb: usize,
    addr: u64,
    dir: Direction,
    mem: &dyn GuestMemory,
) -> Result<Translation, Fault> {
    c.translate(phb, addr, dir, Access::Device, DEV, mem)
}

/// Programs TAR p for a table at `table` with size code `s` and turns
/// translation on, the way Linux does.
pub fn enable(c: &mut Chip, p: usize, table: u64, s: u64) {
    let mut v = readq(c, regs::tar(p));
    v &= !regs::TAR_SW_BITS;
    v |= table | s;
    writeq(c, regs::tar(p), v);
    let off = regs::phb_reg(p, regs::PHB_CONFIG_RW_OFFSET);
    let cfg = readl(c, off) | regs::PHB_TCE_ENABLE | regs::PHB_DAC_DISABLE | regs::PHB_MCSR_ENABLE;
    writel(c, off, cfg);
}

/// Linux tce_build for one page.
pub fn map(mem: &VecMem, table: u64, io_page: u64, phys: u64, to_device_only: bool) {
    let mut t = regs::TCE_READ | (phys & regs::TCE_RPN_MASK);
    if !to_device_only {
        t |= regs::TCE_WRITE;
    }
    mem.write_u64_be(table + io_page * 8, t);
}

/// Linux tce_free for one page.
pub fn unmap(mem: &VecMem, table: u64, io_page: u64) {
    mem.write_u64_be(table + io_page * 8, 0);
}
