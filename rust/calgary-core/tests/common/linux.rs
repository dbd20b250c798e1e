//! Linux's IO-space allocator bitmap and its reservations, re-enacted as
//! the Calgary driver does them (arch/x86_64/kernel/pci-calgary.c,
//! 2.6.18–2.6.23; arch/x86/kernel/pci-calgary_64.c, 2.6.24–5.6), written
//! from reading those sources.
//!
//! The point of this module is the one place where every version is
//! careless: `iommu_range_reserve` returns early only when the **start**
//! page lies beyond the table, and then sets `npages` bits from there
//! (`set_bit_string`, later `bitmap_set`) without clamping the **length**
//! to the table.  [`ItMap`] therefore keeps every bit a reservation sets,
//! including those past `it_size`, so a test can see by how much a window
//! would have written past the kernel's bitmap.

use calgary_core::regs;
use calgary_core::{Chip, Variant};

use super::readl;

/// x86 `PAGE_SHIFT`.
pub const PAGE_SHIFT: u32 = 12;
/// x86 `PAGE_SIZE`.
pub const PAGE_SIZE: u64 = 1 << PAGE_SHIFT;

/// Linux `get_order(size)`: the smallest order with
/// `PAGE_SIZE << order >= size`, computed as the kernel does
/// (`fls64((size - 1) >> PAGE_SHIFT)`, or the older shift loop, which
/// agrees).  `size` 0 wraps to 52 there too: a kdump kernel without
/// `saved_max_pfn` asks for it.
pub fn get_order(size: u64) -> u32 {
    let pages = size.wrapping_sub(1) >> PAGE_SHIFT;
    64 - pages.leading_zeros()
}

/// `determine_tce_table_size(max_pfn * PAGE_SIZE)` of Linux 2.6.18–3.10
/// (and of a 3.16+ kdump kernel with `saved_max_pfn`): `get_order(ram >>
/// 13)`, clamped to 7 (`TCE_TABLE_SIZE_8M`).
pub fn ram_sized_code(max_pfn: u64) -> u64 {
    u64::from(get_order((max_pfn << PAGE_SHIFT) >> 13)).min(7)
}

/// QEMU's i440fx split of `-m` into RAM below and above 4 GiB (pc_piix.c
/// with the defaults: `max-ram-below-4g` 0xE0000000, gigabyte alignment):
/// from 3.5 GiB of RAM on, 3 GiB stay below 4 GiB.
pub fn qemu_i440fx_below_4g(ram: u64) -> u64 {
    let mut lowmem = 0xE000_0000u64;
    if ram >= lowmem {
        lowmem = lowmem.min(0xC000_0000);
    }
    ram.min(lowmem)
}

/// Linux's `max_pfn` on that split: the end of the highest RAM range.
pub fn qemu_i440fx_max_pfn(ram: u64) -> u64 {
    let below = qemu_i440fx_below_4g(ram);
    if ram > below {
        ((1u64 << 32) + (ram - below)) >> PAGE_SHIFT
    } else {
        below >> PAGE_SHIFT
    }
}

/// `tbl->it_map`: one bit per IO page of a table of `it_size` entries,
/// allocated with `__get_free_pages(get_order(it_size / 8))`.
pub struct ItMap {
    /// Entries of the TCE table (`it_size`).
    pub it_size: usize,
    /// The bitmap's bits, index 0..it_size.
    pub bits: Vec<bool>,
    /// One past the highest bit any reservation set (may exceed it_size).
    pub max_end: usize,
}

impl ItMap {
    /// A cleared bitmap for a table of size code `size_code`.
    pub fn new(size_code: u64) -> Self {
        let it_size = regs::tce_entries(size_code) as usize;
        ItMap {
            it_size,
            bits: vec![false; it_size],
            max_end: 0,
        }
    }

    /// Bytes of the bitmap proper (`bitmapsz = it_size / BITS_PER_BYTE`).
    pub fn bitmap_bytes(&self) -> usize {
        self.it_size / 8
    }

    /// Bytes the kernel really allocated for it (whole pages).
    pub fn alloc_bytes(&self) -> usize {
        (PAGE_SIZE as usize) << get_order(self.bitmap_bytes() as u64)
    }

    /// `bitmap_set(map, index, n)` / `set_bit_string(map, index, n)`: no
    /// bound check, exactly like the kernel's helpers.
    pub fn set(&mut self, index: usize, n: usize) {
        let end = index + n;
        if index < self.it_size {
            self.bits[index..end.min(self.it_size)].fill(true);
        }
        self.max_end = self.max_end.max(end);
    }

    /// Bits set at or beyond `it_size`: a write past the bitmap.
    pub fn overrun_bits(&self) -> usize {
        self.max_end.saturating_sub(self.it_size)
    }

    /// Bytes written past the bitmap proper.
    pub fn overrun_bytes(&self) -> usize {
        self.overrun_bits().div_ceil(8)
    }

    /// Bytes written past the whole-page allocation: memory corruption.
    pub fn overrun_past_alloc_bytes(&self) -> usize {
        self.max_end.div_ceil(8).saturating_sub(self.alloc_bytes())
    }

    /// Number of free (clear) bits inside the table.
    pub fn free(&self) -> usize {
        self.bits.iter().filter(|b| !**b).count()
    }
}

/// `iommu_range_reserve(tbl, start_addr, npages)`: the start is checked
/// against the table, the length is not.
pub fn iommu_range_reserve(map: &mut ItMap, start_addr: u64, npages: u32) {
    let index = start_addr >> PAGE_SHIFT;
    if index >= map.it_size as u64 {
        return; // "bail out if we're asked to reserve a region we don't cover"
    }
    map.set(index as usize, npages as usize);
}

/// `calgary_reserve_mem_region(dev, start, limit)`: the limit register is
/// the window's last address, 1 MiB granular; `numpages` is an `unsigned
/// int` computed in 64 bits.
pub fn calgary_reserve_mem_region(map: &mut ItMap, start: u64, limit: u64) -> u32 {
    let limit = (limit | 0xF_FFFF).wrapping_add(1);
    let numpages = (limit.wrapping_sub(start) >> PAGE_SHIFT) as u32;
    iommu_range_reserve(map, start, numpages);
    numpages
}

/// One reservation `calgary_reserve_regions` made, for diagnostics.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Reservation {
    /// What it is.
    pub what: &'static str,
    /// IO address it starts at.
    pub start: u64,
    /// Pages requested (not clamped).
    pub npages: u32,
}

/// How a kernel era reserves the low IO space.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct LowReserve {
    /// Pages reserved from `bad_dma_address` (0): 1 up to 2.6.20,
    /// `EMERGENCY_PAGES` (32) from 2.6.21 on.
    pub emergency_pages: u32,
    /// 2.6.23+: CalIOC2 reserves the whole first MiB instead of
    /// 640 KiB..1 MiB.  Earlier kernels do not know CalIOC2.
    pub calioc2_first_mib: bool,
}

/// 2.6.21 and later.
pub const LOW_RESERVE_2_6_21: LowReserve = LowReserve {
    emergency_pages: 32,
    calioc2_first_mib: true,
};

/// `calgary_reserve_regions(dev)` for PHB `phb` of `chip`, register reads
/// and all: bad-DMA page(s), the legacy hole, MEM_1, and MEM_2 when
/// PHB_CONFIG has MEM2_ENABLE.
pub fn calgary_reserve_regions(
    chip: &mut Chip,
    phb: usize,
    map: &mut ItMap,
    low: LowReserve,
) -> Vec<Reservation> {
    let variant = chip.variant();
    reserve_regions_with(&mut |off| readl(chip, off), variant, phb, map, low)
}

/// [`calgary_reserve_regions`] with the register reads (`be32_to_cpu(readl
/// (bbar + off))`, `off` inside the chip window) done by `read32`.
pub fn reserve_regions_with(
    read32: &mut dyn FnMut(u64) -> u32,
    variant: Variant,
    phb: usize,
    map: &mut ItMap,
    low: LowReserve,
) -> Vec<Reservation> {
    let mut done = Vec::new();
    iommu_range_reserve(map, 0, low.emergency_pages);
    done.push(Reservation {
        what: "bad_dma_address",
        start: 0,
        npages: low.emergency_pages,
    });
    let (start, npages) = if variant == Variant::CalIoc2 && low.calioc2_first_mib {
        (0u64, (1024 * 1024) >> PAGE_SHIFT)
    } else {
        (640 * 1024u64, ((1024 - 640) * 1024) >> PAGE_SHIFT)
    };
    iommu_range_reserve(map, start, npages);
    done.push(Reservation {
        what: "legacy",
        start,
        npages,
    });
    // calgary_reserve_peripheral_mem_1
    let low32 = u64::from(read32(regs::phb_reg(phb, regs::PHB_MEM_1_LOW)));
    let high = u64::from(read32(regs::phb_reg(phb, regs::PHB_MEM_1_HIGH)));
    let size = u64::from(read32(regs::phb_reg(phb, regs::PHB_MEM_1_SIZE)));
    let start = (high << 32) | low32;
    let npages = calgary_reserve_mem_region(map, start, size);
    done.push(Reservation {
        what: "MEM_1",
        start,
        npages,
    });
    // calgary_reserve_peripheral_mem_2
    let cfg = read32(regs::phb_reg(phb, regs::PHB_CONFIG_RW_OFFSET));
    if cfg & regs::PHB_MEM2_ENABLE != 0 {
        let low32 = u64::from(read32(regs::phb_reg(phb, regs::PHB_MEM_2_LOW)));
        let high = u64::from(read32(regs::phb_reg(phb, regs::PHB_MEM_2_HIGH)));
        let sl = u64::from(read32(regs::phb_reg(phb, regs::PHB_MEM_2_SIZE_LOW)));
        let sh = u64::from(read32(regs::phb_reg(phb, regs::PHB_MEM_2_SIZE_HIGH)));
        let start = (high << 32) | low32;
        let npages = calgary_reserve_mem_region(map, start, (sh << 32) | sl);
        done.push(Reservation {
            what: "MEM_2",
            start,
            npages,
        });
    }
    done
}
