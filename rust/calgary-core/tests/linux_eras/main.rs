//! The Linux Calgary driver of each era (linux-driver-history.md), replayed
//! against the model register access by register access: detection, TAR
//! with the RAM-sized size code, the IO-space reservations, translation
//! enable, a DMA through a TCE, a blocked DMA and the watchdog, the TCE
//! cache flush — and kdump's reuse of the crashed kernel's table.
//!
//! `Kernel` is a re-enactment written from reading the driver of each
//! version (2.6.18, 2.6.19, 2.6.20, 2.6.21, 2.6.23, 2.6.27, 3.16); where the
//! versions differ the code says which does what.  Register accesses are
//! made at `BBAR + offset` as the kernel computes the BBAR and must land in
//! the chip's window; every access is recorded in `Kernel::trace`.
#![allow(
    clippy::unwrap_used,
    clippy::indexing_slicing,
    clippy::panic,
    clippy::expect_used
)]
#[path = "../common/mod.rs"]
mod common;

use calgary_core::platform;
use calgary_core::regs;
use calgary_core::rio::{self, RioChip};
use calgary_core::*;
use common::linux::{self, ItMap, LowReserve, Reservation};
use common::*;

/// Kernel versions where the driver changed in a way the platform sees.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
enum Era {
    /// No Rio table: PHBs found at devfn 0, BBAR computed from the bus
    /// number (`% 15`), PHB index = ordinal mod 4, no quirks.
    V2_6_18,
    /// Formula with `% 14`; `tce_free` at setup; bus-1 quirk after enable.
    V2_6_19,
    /// Rio table and STUFF, walked `start..=end`; one bad-DMA page.
    V2_6_20,
    /// 32 emergency pages.
    V2_6_21,
    /// STUFF `if (end) range else start`; CalIOC2; quirks before enable;
    /// new watchdog message.
    V2_6_23,
    /// kdump: the table is taken back from TAR.
    V2_6_27,
    /// Size code fixed at 7 except in a kdump kernel with saved_max_pfn.
    V3_16,
}

use Era::*;

const ALL_ERAS: [Era; 7] = [V2_6_18, V2_6_19, V2_6_20, V2_6_21, V2_6_23, V2_6_27, V3_16];

impl Era {
    fn rio(self) -> bool {
        self >= V2_6_20
    }
    fn knows(self, v: Variant) -> bool {
        v == Variant::Calgary || self >= V2_6_23
    }
    fn low_reserve(self) -> LowReserve {
        LowReserve {
            emergency_pages: if self >= V2_6_21 { 32 } else { 1 },
            calioc2_first_mib: true,
        }
    }
    /// 2.6.18 and 2.6.19 (`locate_register_space`): `0xfe000000 -
    /// 8 MiB * (1 + bus / N) + 1 MiB * (bus % N > 4 ? 3 : 2)`, N = 15 in
    /// 2.6.18 and 14 in 2.6.19.
    fn formula_bbar(self, bus: u8) -> u32 {
        let n: u32 = if self == V2_6_18 { 15 } else { 14 };
        let bus = u32::from(bus);
        let node = if bus % n > 4 { 3 } else { 2 };
        0xfe00_0000 - 0x80_0000 * (1 + bus / n) + 0x10_0000 * node
    }
    /// `determine_tce_table_size` of a normal (not kdump) boot.
    fn table_size(self, ram: u64) -> u64 {
        if self >= V3_16 {
            7
        } else {
            linux::ram_sized_code(linux::qemu_i440fx_max_pfn(ram))
        }
    }
    /// The same in a kdump kernel whose `saved_max_pfn` is `saved`
    /// (0 when the capture kernel was booted without memmap=exactmap).
    fn kdump_table_size(self, saved: u64) -> u64 {
        if self >= V3_16 && saved == 0 {
            7
        } else {
            linux::ram_sized_code(saved)
        }
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Op {
    R,
    W,
}

/// One register access as the kernel made it (offset inside the window).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
struct Acc {
    op: Op,
    off: u64,
    size: u32,
    val: u64,
}

#[derive(Clone, Copy, Debug, Default)]
struct BusInfo {
    bbar: Option<u32>,
    phbid: Option<usize>,
    tce_space: Option<u64>,
}

/// `struct iommu_table`.
struct Tbl {
    bus: u8,
    phb: usize,
    bbar: u32,
    it_base: u64,
    map: ItMap,
    reserved: Vec<Reservation>,
    hint: usize,
    tar_val: u64,
    watchdog_armed: bool,
}

const TABLE_BASE: u64 = 0x80_0000;
const TABLE_STRIDE: u64 = 0x80_0000; // 8 MiB apart, 8 MiB aligned
const MEM_SIZE: usize = 48 << 20;

struct Kernel {
    era: Era,
    chip: Chip,
    mem: VecMem,
    size_code: u64,
    kdump: bool,
    bus_info: Vec<BusInfo>,
    tbls: Vec<Tbl>,
    trace: Vec<Acc>,
    log: Vec<String>,
    next_table: u64,
}

impl Kernel {
    fn new(era: Era, chip: Chip, mem: VecMem, size_code: u64, kdump: bool) -> Kernel {
        Kernel {
            era,
            chip,
            mem,
            size_code,
            kdump,
            bus_info: vec![BusInfo::default(); 256],
            tbls: Vec::new(),
            trace: Vec::new(),
            log: Vec::new(),
            next_table: TABLE_BASE,
        }
    }

    // ---------------------------------------------------------- registers

    fn off(&self, bbar: u32, off: u64) -> u64 {
        assert_eq!(
            bbar,
            self.chip.config().bbar,
            "{:?}: the kernel's register window is not the chip's",
            self.era
        );
        assert!(off < CHIP_WINDOW_SIZE);
        off
    }

    fn rd(&mut self, bbar: u32, off: u64, size: u32) -> u64 {
        let off = self.off(bbar, off);
        let (v, ev) = self.chip.mmio_read(off, size);
        assert!(
            !matches!(ev, Some(MmioEvent::GuestError { .. })),
            "{:?} read {off:#x}: {ev:?}",
            self.era
        );
        self.trace.push(Acc {
            op: Op::R,
            off,
            size,
            val: v,
        });
        v
    }

    fn wr(&mut self, bbar: u32, off: u64, size: u32, v: u64) -> Option<MmioEvent> {
        let off = self.off(bbar, off);
        let ev = self.chip.mmio_write(off, size, v);
        assert!(
            !matches!(ev, Some(MmioEvent::GuestError { .. })),
            "{:?} write {off:#x}: {ev:?}",
            self.era
        );
        self.trace.push(Acc {
            op: Op::W,
            off,
            size,
            val: v,
        });
        ev
    }

    /// `be32_to_cpu(readl())`.
    fn readl(&mut self, bbar: u32, off: u64) -> u32 {
        self.rd(bbar, off, 4) as u32
    }
    fn writel(&mut self, bbar: u32, off: u64, v: u32) -> Option<MmioEvent> {
        self.wr(bbar, off, 4, u64::from(v))
    }
    fn readq(&mut self, bbar: u32, off: u64) -> u64 {
        self.rd(bbar, off, 8)
    }
    fn writeq(&mut self, bbar: u32, off: u64, v: u64) -> Option<MmioEvent> {
        self.wr(bbar, off, 8, v)
    }

    // -------------------------------------------------------- PCI (early)

    /// The PHB functions at devfn 0 that early config cycles and the PCI
    /// core find, in bus order (every PHB bus holds a device in slot 1).
    fn phb_functions(&self) -> Vec<(u8, u16)> {
        let mut v: Vec<(u8, u16)> = self
            .chip
            .config()
            .phbs
            .iter()
            .map(|p| (p.first_bus, self.chip.variant().device_id()))
            .collect();
        v.sort();
        v
    }

    fn known(&self, device: u16) -> bool {
        device == Variant::Calgary.device_id()
            || (self.era >= V2_6_23 && device == Variant::CalIoc2.device_id())
    }

    // ------------------------------------------------------------ detect

    /// `detect_calgary`: Rio table (2.6.20+), table size, early scan.
    fn detect(&mut self) -> bool {
        if self.era.rio() {
            let mut low = vec![0u8; 1 << 20];
            let table = rio::build(&[RioChip {
                bbar: self.chip.config().bbar,
                variant: self.chip.variant(),
                chassis: 1,
                node: 0,
            }])
            .unwrap();
            rio::place(&mut low, 0x9FC0, &table).unwrap();
            let parsed = rio::parse(&low).expect("Rio Grande table");
            assert!(parsed.linux_accepts(1));
        }
        let mut ordinal: Option<usize> = None;
        let mut found = false;
        for (bus, device) in self.phb_functions() {
            if !self.known(device) {
                continue;
            }
            if self.era <= V2_6_19 {
                // "phb = (phb + 1) % PHBS_PER_CALGARY"
                ordinal = Some(ordinal.map_or(0, |o| (o + 1) % 4));
            }
            // calgary_bus_has_devices: slot 1 is populated.
            if !self.kdump {
                let t = self.next_table;
                self.next_table += TABLE_STRIDE;
                // alloc_bootmem_low: zeroed memory.
                self.mem.zero(t, regs::tce_entries(self.size_code) * 8);
                self.bus_info[bus as usize].tce_space = Some(t);
            }
            if self.era <= V2_6_19 {
                self.bus_info[bus as usize].phbid = ordinal;
            }
            found = true;
        }
        if found {
            self.log.push("PCI-DMA: Calgary IOMMU detected.".into());
        }
        found
    }

    // -------------------------------------------------------------- init

    /// `calgary_locate_bbars` (2.6.20+): the STUFF register of every PHB.
    fn locate_bbars(&mut self) {
        let bbar = self.chip.config().bbar;
        for phb in 0..4 {
            let val = self.readl(bbar, regs::stuff(phb));
            let start = ((val & 0x00FF_0000) >> 16) as u8;
            let end = ((val & 0x0000_FF00) >> 8) as u8;
            let buses: Vec<u8> = if self.era >= V2_6_23 && end == 0 {
                vec![start]
            } else {
                (start..=end).collect()
            };
            for b in buses {
                self.bus_info[b as usize].bbar = Some(bbar);
                self.bus_info[b as usize].phbid = Some(phb);
            }
        }
    }

    /// `get_tce_space_from_tar` (kdump kernel, 2.6.27+).
    fn get_tce_space_from_tar(&mut self) {
        for (bus, device) in self.phb_functions() {
            if !self.known(device) {
                continue;
            }
            let info = self.bus_info[bus as usize];
            let (bbar, phb) = (info.bbar.unwrap(), info.phbid.unwrap());
            let tar = self.readq(bbar, regs::tar(phb));
            let space = tar & regs::TAR_SW_BITS & !self.size_code;
            self.bus_info[bus as usize].tce_space = Some(space);
        }
    }

    /// `calgary_init`.  Err(..) where the real kernel would oops.
    fn init(&mut self) -> Result<(), String> {
        if self.era.rio() {
            self.locate_bbars();
        }
        if self.kdump {
            self.get_tce_space_from_tar();
        }
        for (bus, device) in self.phb_functions() {
            if !self.known(device) || self.bus_info[bus as usize].tce_space.is_none() {
                continue;
            }
            self.init_one(bus)?;
        }
        Ok(())
    }

    fn init_one(&mut self, bus: u8) -> Result<(), String> {
        let era = self.era;
        let info = self.bus_info[bus as usize];
        let bbar = if era <= V2_6_19 {
            era.formula_bbar(bus)
        } else {
            info.bbar
                .ok_or_else(|| format!("bus {bus:#x}: NULL bbar, oops"))?
        };
        let phb = info
            .phbid
            .ok_or_else(|| format!("bus {bus:#x}: no PHB id"))?;
        // build_tce_table
        let it_base = info.tce_space.unwrap();
        let mut map = ItMap::new(self.size_code);
        if self.kdump {
            // calgary_init_bitmap_from_tce_table: it_size u64s from it_base.
            let bytes = self.mem.bytes.borrow();
            let table = &bytes[it_base as usize..][..8 * map.it_size];
            for (bit, tce) in map.bits.iter_mut().zip(table.chunks_exact(8)) {
                *bit = tce.iter().any(|b| *b != 0);
            }
        } else if era >= V2_6_19 {
            // tce_free(tbl, 0, it_size): every TCE written 0.
            self.mem.zero(it_base, 8 * map.it_size as u64);
        }
        // calgary_reserve_regions
        let variant = self.chip.variant();
        let reserved = {
            let mut read32 = |off: u64| self.readl(bbar, off);
            linux::reserve_regions_with(&mut read32, variant, phb, &mut map, era.low_reserve())
        };
        if map.overrun_bits() != 0 {
            return Err(format!(
                "reservations {reserved:x?} write {} bytes past a {}-byte bitmap",
                map.overrun_bytes(),
                map.bitmap_bytes()
            ));
        }
        // TAR: keep the bits the driver does not own, add __pa(it_base) and
        // the size code, write, read back.
        let mut v = self.readq(bbar, regs::tar(phb));
        v &= !regs::TAR_SW_BITS;
        v |= it_base;
        v |= self.size_code;
        let ev = self.writeq(bbar, regs::tar(phb), v);
        assert_eq!(ev, Some(MmioEvent::CacheFlushed { phb: phb as u8 }));
        assert_eq!(self.readq(bbar, regs::tar(phb)), v);
        self.tbls.push(Tbl {
            bus,
            phb,
            bbar,
            it_base,
            map,
            reserved,
            hint: 0,
            tar_val: v,
            watchdog_armed: false,
        });
        // quirks
        if era >= V2_6_23 {
            self.quirks(bus);
        }
        // calgary_enable_translation
        let cfg_off = regs::phb_reg(phb, regs::PHB_CONFIG_RW_OFFSET);
        let v = self.readl(bbar, cfg_off)
            | regs::PHB_TCE_ENABLE
            | regs::PHB_DAC_DISABLE
            | regs::PHB_MCSR_ENABLE;
        self.log.push(match era {
            V2_6_18 => format!("Calgary: enabling translation on PHB {bus}"),
            V2_6_19 | V2_6_20 | V2_6_21 => {
                format!("Calgary: enabling translation on PHB {bus:#x}")
            }
            _ => format!(
                "Calgary: enabling translation on {} PHB {bus:#x}",
                variant.name()
            ),
        });
        self.writel(bbar, cfg_off, v);
        self.readl(bbar, cfg_off);
        if (V2_6_19..V2_6_23).contains(&era) {
            self.quirks(bus);
        }
        self.tbl(bus).watchdog_armed = true;
        Ok(())
    }

    /// Calgary: longer split-completion timeout on bus 1 (2.6.19+);
    /// CalIOC2: the SAVIOR_L2 bit (2.6.23+).
    fn quirks(&mut self, bus: u8) {
        let (bbar, phb) = {
            let t = self.tbl(bus);
            (t.bbar, t.phb)
        };
        match self.chip.variant() {
            Variant::Calgary if bus == 1 => {
                let shift = [63 - 19, 63 - 23, 63 - 27, 63 - 35][phb];
                let mut v = self.readq(bbar, regs::CALGARY_CONFIG);
                v &= !(0xFu64 << shift);
                v |= regs::CCR_2SEC_TIMEOUT << shift;
                self.writeq(bbar, regs::CALGARY_CONFIG, v);
                self.readq(bbar, regs::CALGARY_CONFIG);
            }
            Variant::CalIoc2 => {
                let off = regs::phb_reg(phb, regs::PHB_SAVIOR_L2);
                let v = self.readl(bbar, off) | regs::SAVIOR_L2_LINUX_BIT;
                self.writel(bbar, off, v);
            }
            Variant::Calgary => {}
        }
    }

    fn tbl(&mut self, bus: u8) -> &mut Tbl {
        self.tbls.iter_mut().find(|t| t.bus == bus).unwrap()
    }

    // --------------------------------------------------------------- DMA

    /// iommu_range_alloc + tce_build.
    fn map(&mut self, bus: u8, phys: u64, npages: usize, to_device: bool) -> Option<u64> {
        let free_from = |t: &Tbl, from: usize| {
            (from..=t.map.it_size.saturating_sub(npages))
                .find(|&i| t.map.bits[i..i + npages].iter().all(|b| !b))
        };
        let hint = self.tbl(bus).hint;
        let off = match free_from(self.tbl(bus), hint) {
            Some(o) => o,
            None => {
                self.blast(bus);
                match free_from(self.tbl(bus), 0) {
                    Some(o) => o,
                    None => {
                        self.log.push("Calgary: IOMMU full.".into());
                        return None;
                    }
                }
            }
        };
        let t = self.tbl(bus);
        t.map.set(off, npages);
        t.hint = off + npages;
        let base = t.it_base;
        for i in 0..npages as u64 {
            let mut tce = regs::TCE_READ | ((phys + (i << 12)) & regs::TCE_RPN_MASK);
            if !to_device {
                tce |= regs::TCE_WRITE;
            }
            // *tp = cpu_to_be64(t) at it_base + 8 * index
            self.mem.write_u64_be(base + 8 * (off as u64 + i), tce);
        }
        Some(((off as u64) << 12) | (phys & 0xfff))
    }

    /// Calgary cache flush (all eras) / CalIOC2 flush (2.6.23+).
    fn blast(&mut self, bus: u8) {
        let (bbar, phb, tar_val) = {
            let t = self.tbl(bus);
            (t.bbar, t.phb, t.tar_val)
        };
        match self.chip.variant() {
            Variant::Calgary => {
                let aer_off = regs::phb_reg(phb, regs::PHB_AER_OFFSET);
                // readl/writel without swap: the value moves unchanged.
                let aer = self.readl(bbar, aer_off);
                self.writel(bbar, aer_off, 0);
                self.readl(bbar, regs::phb_reg(phb, regs::PHB_PLSSR_OFFSET));
                let mut polls = 0;
                loop {
                    let raw =
                        u64::from_le_bytes(self.readq(bbar, regs::split_queue(phb)).to_be_bytes());
                    polls += 1;
                    if raw & 0xff == 0xff || polls >= 100 {
                        break;
                    }
                }
                if polls == 100 {
                    self.log
                        .push("Calgary: PCI bus not quiesced, continuing anyway".into());
                }
                let ev = self.writeq(bbar, regs::tar(phb), tar_val);
                assert_eq!(ev, Some(MmioEvent::CacheFlushed { phb: phb as u8 }));
                self.writel(bbar, aer_off, aer);
                self.readl(bbar, aer_off);
            }
            Variant::CalIoc2 => {
                let pmcr = regs::phb_reg(phb, regs::PHB_PAGE_MIG_CTRL);
                let pmdr = regs::phb_reg(phb, regs::PHB_PAGE_MIG_DEBUG);
                let v = self.readl(bbar, pmcr) | regs::PMR_SOFTSTOP;
                self.writel(bbar, pmcr, v);
                let raw =
                    u64::from_le_bytes(self.readq(bbar, regs::split_queue(phb)).to_be_bytes());
                assert_eq!(raw & 0xff, 0xff, "split queue idle");
                assert_eq!(self.readl(bbar, pmdr) & regs::PMR_SOFTSTOPFAULT, 0);
                self.readl(bbar, pmcr); // into HardStop
                self.readl(bbar, pmdr);
                let ev = self.writeq(bbar, regs::tar(phb), tar_val);
                assert_eq!(ev, Some(MmioEvent::CacheFlushed { phb: phb as u8 }));
                self.readl(bbar, pmcr);
                self.writel(bbar, pmcr, 0);
                assert_eq!(self.readl(bbar, pmcr), 0);
            }
        }
    }

    /// One tick of `calgary_watchdog`; true when it reported an error.
    fn watchdog(&mut self, bus: u8) -> bool {
        let era = self.era;
        let (bbar, phb, armed) = {
            let t = self.tbl(bus);
            (t.bbar, t.phb, t.watchdog_armed)
        };
        if !armed {
            return false;
        }
        let csr_off = regs::phb_reg(phb, regs::PHB_CSR_OFFSET);
        let csr = self.readl(bbar, csr_off);
        if csr & regs::CSR_AGENT_MASK == 0 {
            return false;
        }
        match era {
            V2_6_18 => self.log.push(format!(
                "calgary_watchdog: DMA error on bus {bus}, CSR = {csr:#x}"
            )),
            V2_6_19 | V2_6_20 | V2_6_21 => self.log.push(format!(
                "calgary_watchdog: DMA error on PHB {bus:#x}, CSR = {csr:#x}"
            )),
            _ => {
                let csr = self.readl(bbar, csr_off);
                let plssr = self.readl(bbar, regs::phb_reg(phb, regs::PHB_PLSSR_OFFSET));
                let name = self.chip.variant().name();
                if self.chip.variant() == Variant::Calgary {
                    self.log.push(format!(
                        "Calgary: DMA error on {name} PHB {bus:#x}, {csr:#010x}@CSR {plssr:#010x}@PLSSR"
                    ));
                } else {
                    self.log
                        .push(format!("Calgary: DMA error on {name} PHB {bus:#x}"));
                    for off in [regs::PHB_CSMR, regs::PHB_MCK] {
                        self.readl(bbar, regs::phb_reg(phb, off));
                    }
                    for i in 0..7 {
                        self.readl(bbar, regs::phb_reg(phb, regs::PHB_ERR_BASE + 0x10 * i));
                    }
                    self.readl(bbar, regs::phb_reg(phb, regs::PHB_ROOT_COMPLEX_STATUS));
                }
            }
        }
        let ev = self.writel(bbar, csr_off, 0);
        assert_eq!(ev, Some(MmioEvent::ErrorCleared { phb: phb as u8 }));
        let cfg_off = regs::phb_reg(phb, regs::PHB_CONFIG_RW_OFFSET);
        let v = self.readl(bbar, cfg_off) | regs::PHB_SLOT_DISABLE;
        self.writel(bbar, cfg_off, v);
        self.readl(bbar, cfg_off);
        self.tbl(bus).watchdog_armed = false;
        true
    }

    /// A DMA of the device in slot 1 of `bus`.
    fn dma(&mut self, bus: u8, addr: u64, dir: Direction) -> Result<Translation, Fault> {
        let phb = self.bus_info[bus as usize]
            .phbid
            .or_else(|| (0..4).find(|&p| self.chip.config().phbs[p].first_bus == bus))
            .unwrap();
        let req = Requester { bus, devfn: 0x08 };
        self.chip
            .translate(phb, addr, dir, Access::Device, req, &self.mem)
    }

    /// kexec into a capture kernel: no reset, RAM and chip as they are.
    fn crash_into(self, era: Era, capture_code: u64) -> Kernel {
        Kernel::new(era, self.chip, self.mem, capture_code, true)
    }
}

const MIB: u64 = 1 << 20;

/// The chip layout each era can find: 2.6.18/19 only find a chip where
/// their BBAR formula lands (buses 1-4 give 0xfda00000 under both
/// formulas); later kernels read the Rio table and STUFF, so they run on
/// the machine's own layout (buses 0x20 + 4p, BBAR 0xfef00000).
fn chip_for(era: Era, variant: Variant, ram: u64, policy: CachePolicy) -> Chip {
    let mut cfg = cfg(variant, policy);
    let (bbar, buses) = if era <= V2_6_19 {
        (0xfda0_0000, [1u8, 2, 3, 4])
    } else {
        (0xfef0_0000, [0x20, 0x24, 0x28, 0x2c])
    };
    cfg.bbar = bbar;
    let start = platform::mem1_start(linux::qemu_i440fx_below_4g(ram));
    for (p, b) in buses.iter().enumerate() {
        cfg.phbs[p] = PhbConfig {
            first_bus: *b,
            last_bus: *b,
            mem1_start: start,
            mem1_limit: platform::MEM1_LIMIT,
        };
    }
    Chip::new(cfg).unwrap()
}

fn boot(era: Era, variant: Variant, ram: u64) -> Kernel {
    let chip = chip_for(era, variant, ram, CachePolicy::Faithful);
    let mut k = Kernel::new(era, chip, VecMem::new(MEM_SIZE), era.table_size(ram), false);
    // calgary_iommu_init runs only when detection found a Calgary.
    if k.detect() {
        k.init()
            .unwrap_or_else(|e| panic!("{era:?} {variant} -m {}M: {e}", ram >> 20));
    }
    k
}

const RAM_SIZES: [u64; 3] = [384 * MIB, 1536 * MIB, 3584 * MIB];

mod kdump;
/// The whole story of one era on one variant at one RAM size.
mod replay;
