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

/// The whole story of one era on one variant at one RAM size.
fn replay_era(era: Era, variant: Variant, ram: u64) {
    let what = format!("{era:?} {variant} -m {}M", ram >> 20);
    let mut k = boot(era, variant, ram);
    if !era.knows(variant) {
        // Before 2.6.23 the driver does not know 1014:0308: no table, no
        // register access, translation stays off and DMA passes unchecked.
        assert!(k.tbls.is_empty() && k.trace.is_empty(), "{what}");
        let bus = k.chip.config().phbs[0].first_bus;
        let t = k.dma(bus, 0x1234_5000, Direction::Write).unwrap();
        assert_eq!((t.phys, t.kind), (0x1234_5000, XlateKind::Bypass), "{what}");
        return;
    }
    let code = era.table_size(ram);
    assert_eq!(k.tbls.len(), 4, "{what}: every populated PHB translated");

    // Detection: 2.6.20+ read the four STUFF registers, earlier kernels
    // never touch them; nothing is written before the first TAR access.
    let stuff_reads = k
        .trace
        .iter()
        .filter(|a| (0..4).any(|p| a.off == regs::stuff(p)))
        .count();
    assert_eq!(stuff_reads, if era.rio() { 4 } else { 0 }, "{what}");
    let first_write = k.trace.iter().position(|a| a.op == Op::W).unwrap();
    assert!(
        (0..4).any(|p| k.trace[first_write].off == regs::tar(p)),
        "{what}: first write is a TAR: {:x?}",
        k.trace[first_write]
    );

    for i in 0..k.tbls.len() {
        let (bus, phb, base) = (k.tbls[i].bus, k.tbls[i].phb, k.tbls[i].it_base);
        assert_eq!(phb, i, "{what}: bus {bus:#x} is PHB {i}");
        // TAR with the RAM-sized code (3.16+: 7).
        assert_eq!(k.chip.tar(phb), base | code, "{what}");
        assert_eq!(k.chip.table_entries(phb), 8192 << code, "{what}");
        // Reservations: never past the bitmap; the era's bad-DMA pages.
        let t = &k.tbls[i];
        assert_eq!(t.map.overrun_bits(), 0, "{what}");
        assert_eq!(
            t.reserved[0].npages,
            era.low_reserve().emergency_pages,
            "{what}"
        );
        let mem1 = platform::mem1_start(linux::qemu_i440fx_below_4g(ram));
        assert!(
            t.map.bits.iter().skip((mem1 >> 12) as usize).all(|b| *b),
            "{what}: MEM_1 pages inside the table are reserved"
        );
        // Enable: PHB_CONFIG |= TCE | DAC | MCSR on top of the reset value.
        assert_eq!(
            k.chip.reg(phb, regs::RegId::PhbConfigRw) as u32,
            regs::PHB_MEM2_ENABLE
                | regs::PHB_TCE_ENABLE
                | regs::PHB_DAC_DISABLE
                | regs::PHB_MCSR_ENABLE,
            "{what}"
        );
    }
    let enable_msg = match era {
        V2_6_18 => "Calgary: enabling translation on PHB 1".to_string(),
        V2_6_19 => "Calgary: enabling translation on PHB 0x1".to_string(),
        V2_6_20 | V2_6_21 => "Calgary: enabling translation on PHB 0x20".to_string(),
        _ => format!(
            "Calgary: enabling translation on {} PHB 0x20",
            variant.name()
        ),
    };
    assert!(k.log.contains(&enable_msg), "{what}: {:?}", k.log);

    let bus = k.tbls[0].bus;
    // A DMA translated through a TCE.
    let a = k.map(bus, 0x0123_4560, 3, false).unwrap();
    assert!(a >> 12 >= 256, "{what}: never an IO page of the low MiB");
    for i in 0..3u64 {
        let t = k.dma(bus, a + (i << 12), Direction::Write).unwrap();
        assert_eq!(
            (t.phys, t.kind),
            (0x0123_4560 + (i << 12), XlateKind::Translated),
            "{what}"
        );
    }
    let b = k.map(bus, 0x0200_0000, 1, true).unwrap();
    assert!(k.dma(bus, b, Direction::Read).is_ok(), "{what}");
    // The cache flush sequence: the cached TCE is gone, AER restored.
    let aer = regs::phb_reg(0, regs::PHB_AER_OFFSET);
    k.chip.mmio_write(aer, 4, 0x8000_00F1);
    assert!(k.chip.cache_occupancy(0) > 0);
    let before = k.trace.len();
    k.blast(bus);
    assert_eq!(k.chip.cache_occupancy(0), 0, "{what}");
    assert_eq!(k.chip.reg(0, regs::RegId::Aer), 0x8000_00F1, "{what}");
    assert!(!k.log.iter().any(|m| m.contains("not quiesced")), "{what}");
    let flush: Vec<(Op, u64)> = k.trace[before..].iter().map(|a| (a.op, a.off)).collect();
    if variant == Variant::Calgary {
        assert_eq!(
            flush,
            vec![
                (Op::R, aer),
                (Op::W, aer),
                (Op::R, regs::phb_reg(0, regs::PHB_PLSSR_OFFSET)),
                (Op::R, regs::split_queue(0)),
                (Op::W, regs::tar(0)),
                (Op::W, aer),
                (Op::R, aer),
            ],
            "{what}"
        );
    }
    // Mappings survive a flush (the table is in RAM).
    assert_eq!(k.dma(bus, a, Direction::Write).unwrap().phys, 0x0123_4560);
    // A blocked DMA: write through a to-device TCE, then a page nobody
    // mapped.  The first latches; the watchdog reports it in the era's
    // words, clears CSR and disables the slot.
    let f = k.dma(bus, b, Direction::Write).unwrap_err();
    assert_eq!(
        (f.reason, f.newly_latched),
        (FaultReason::ReadOnly, true),
        "{what}"
    );
    let span = (8192u64 << code) << 12;
    let f = k.dma(bus, span / 4, Direction::Write).unwrap_err();
    assert_eq!(
        (f.reason, f.newly_latched),
        (FaultReason::NotValid, false),
        "{what}"
    );
    if span < platform::mem1_start(linux::qemu_i440fx_below_4g(ram)) {
        let f = k.dma(bus, span, Direction::Read).unwrap_err();
        assert_eq!(f.reason, FaultReason::OutOfRange, "{what}");
    }
    let csr = k.chip.phb_csr(0);
    assert!(k.watchdog(bus), "{what}");
    let want = match era {
        V2_6_18 => format!("calgary_watchdog: DMA error on bus 1, CSR = {csr:#x}"),
        V2_6_19 => format!("calgary_watchdog: DMA error on PHB 0x1, CSR = {csr:#x}"),
        V2_6_20 | V2_6_21 => {
            format!("calgary_watchdog: DMA error on PHB 0x20, CSR = {csr:#x}")
        }
        _ if variant == Variant::Calgary => format!(
            "Calgary: DMA error on Calgary PHB 0x20, {csr:#010x}@CSR {:#010x}@PLSSR",
            b & 0xFFFF_F000
        ),
        _ => "Calgary: DMA error on CalIOC2 PHB 0x20".to_string(),
    };
    assert!(
        k.log.contains(&want),
        "{what}: want {want:?} in {:?}",
        k.log
    );
    assert_eq!(k.chip.phb_csr(0), 0, "{what}");
    assert_eq!(
        k.dma(bus, a, Direction::Write).unwrap_err().reason,
        FaultReason::SlotDisabled,
        "{what}: everything behind the PHB is cut off"
    );
    assert!(!k.watchdog(bus), "{what}: not watched any more");
    // The other PHBs are untouched.
    let other = k.tbls[1].bus;
    let c = k.map(other, 0x0300_0000, 1, false).unwrap();
    assert_eq!(k.dma(other, c, Direction::Read).unwrap().phys, 0x0300_0000);
}

macro_rules! era_tests {
    ($($name:ident => $era:expr, $variant:expr;)*) => {$(
        #[test]
        fn $name() {
            for ram in RAM_SIZES {
                replay_era($era, $variant, ram);
            }
        }
    )*};
}

era_tests! {
    era_2_6_18_calgary => V2_6_18, Variant::Calgary;
    era_2_6_18_calioc2_unknown => V2_6_18, Variant::CalIoc2;
    era_2_6_19_calgary => V2_6_19, Variant::Calgary;
    era_2_6_20_calgary => V2_6_20, Variant::Calgary;
    era_2_6_20_calioc2_unknown => V2_6_20, Variant::CalIoc2;
    era_2_6_21_calgary => V2_6_21, Variant::Calgary;
    era_2_6_23_calgary => V2_6_23, Variant::Calgary;
    era_2_6_23_calioc2 => V2_6_23, Variant::CalIoc2;
    era_2_6_27_calgary => V2_6_27, Variant::Calgary;
    era_2_6_27_calioc2 => V2_6_27, Variant::CalIoc2;
    era_3_16_calgary => V3_16, Variant::Calgary;
    era_3_16_calioc2 => V3_16, Variant::CalIoc2;
}

#[test]
fn formula_bbar_of_2_6_18_and_2_6_19_for_buses_1_to_4() {
    for era in [V2_6_18, V2_6_19] {
        for bus in 1..=4 {
            assert_eq!(era.formula_bbar(bus), 0xfda0_0000, "{era:?} bus {bus}");
        }
    }
    // The PHB index of 2.6.18/19 is the ordinal of the PHB functions found,
    // mod 4, so buses 1-4 are PHBs 0-3 of the chip at 0xfda00000.
    let k = boot(V2_6_18, Variant::Calgary, 384 * MIB);
    let ids: Vec<_> = (1..=4).map(|b| k.bus_info[b].phbid).collect();
    assert_eq!(ids, vec![Some(0), Some(1), Some(2), Some(3)]);
}

#[test]
fn bus_1_split_completion_quirk_by_era() {
    // Bus 1 is PHB 0 here: its field is at bit 44.  2.6.18 has no quirk;
    // 2.6.19-2.6.22 set it after enabling translation, 2.6.23+ before.
    for era in ALL_ERAS {
        let mut cfg = cfg(Variant::Calgary, CachePolicy::Faithful);
        cfg.bbar = 0xfda0_0000;
        for (p, b) in [1u8, 2, 3, 4].iter().enumerate() {
            cfg.phbs[p].first_bus = *b;
            cfg.phbs[p].last_bus = *b;
        }
        let mut k = Kernel::new(
            era,
            Chip::new(cfg).unwrap(),
            VecMem::new(MEM_SIZE),
            0,
            false,
        );
        k.detect();
        k.init().unwrap();
        let ccr = k.chip.reg(0, regs::RegId::CalgaryConfig);
        let cfg0 = regs::phb_reg(0, regs::PHB_CONFIG_RW_OFFSET);
        let w_ccr = k
            .trace
            .iter()
            .position(|a| a.op == Op::W && a.off == regs::CALGARY_CONFIG);
        let w_en = k
            .trace
            .iter()
            .position(|a| a.op == Op::W && a.off == cfg0)
            .unwrap();
        match era {
            V2_6_18 => assert_eq!((ccr, w_ccr), (0, None)),
            _ => {
                assert_eq!(ccr, 0xE << 44, "{era:?}");
                assert_eq!(w_ccr.unwrap() > w_en, era < V2_6_23, "{era:?}");
            }
        }
    }
}

#[test]
fn stuff_range_maps_every_bus_of_a_multi_bus_phb_in_each_era() {
    // PHB 3 owns buses 0x2c..=0x2e: 2.6.20's walk and 2.6.23's
    // `if (end)` both give all three to PHB 3, and single-bus PHBs their
    // one bus.
    for era in [V2_6_20, V2_6_21, V2_6_23, V2_6_27] {
        let mut chip_cfg = cfg(Variant::Calgary, CachePolicy::Off);
        for (p, b) in [0x20u8, 0x24, 0x28, 0x2c].iter().enumerate() {
            chip_cfg.phbs[p].first_bus = *b;
            chip_cfg.phbs[p].last_bus = *b;
        }
        chip_cfg.bbar = 0xfef0_0000;
        chip_cfg.phbs[3].last_bus = 0x2e;
        let mut k = Kernel::new(
            era,
            Chip::new(chip_cfg).unwrap(),
            VecMem::new(MEM_SIZE),
            0,
            false,
        );
        k.locate_bbars();
        let mapped: Vec<(usize, usize)> = k
            .bus_info
            .iter()
            .enumerate()
            .filter_map(|(b, i)| i.phbid.map(|p| (b, p)))
            .collect();
        assert_eq!(
            mapped,
            vec![
                (0x20, 0),
                (0x24, 1),
                (0x28, 2),
                (0x2c, 3),
                (0x2d, 3),
                (0x2e, 3)
            ],
            "{era:?}"
        );
    }
}

// ------------------------------------------------------------------ kdump

/// What the crashed kernel leaves behind: PHB 0 with live mappings, PHB 1
/// disabled by the watchdog, PHB 2 with an error latched that the watchdog
/// has not seen yet.
struct Crashed {
    k: Kernel,
    mapped: Vec<(u64, u64)>,
    latched_csr: u32,
}

fn crashed(era: Era, ram: u64) -> Crashed {
    let mut k = boot(era, Variant::Calgary, ram);
    let mut mapped = Vec::new();
    for (i, phys) in [0x0111_0000u64, 0x0222_0000, 0x0333_0000]
        .iter()
        .enumerate()
    {
        let a = k.map(0x20, *phys, 1 + i, false).unwrap();
        assert_eq!(k.dma(0x20, a, Direction::Write).unwrap().phys, *phys);
        mapped.push((a, *phys));
    }
    // PHB 1: errant DMA, the watchdog disables the slot.
    k.dma(0x24, 0x0070_0000, Direction::Read).unwrap_err();
    assert!(k.watchdog(0x24));
    // PHB 2: errant DMA, no watchdog tick before the crash.
    let f = k.dma(0x28, 0x0071_0000, Direction::Write).unwrap_err();
    assert!(f.newly_latched);
    let latched_csr = k.chip.phb_csr(2);
    assert_ne!(latched_csr & regs::CSR_AGENT_MASK, 0);
    Crashed {
        k,
        mapped,
        latched_csr,
    }
}

/// The capture kernel (2.6.27+ code path) with size code `capture_code`.
fn capture(c: Crashed, era: Era, capture_code: u64) -> (Kernel, Vec<(u64, u64)>, u32) {
    let mut k = c.k.crash_into(era, capture_code);
    assert!(k.detect());
    k.init().unwrap();
    (k, c.mapped, c.latched_csr)
}

#[test]
fn kdump_matching_size_code_keeps_old_mappings_and_state() {
    // 2.6.27-3.10: both kernels size the table from the same RAM
    // (saved_max_pfn = the crashed kernel's max_pfn).
    for ram in [384 * MIB, 1536 * MIB] {
        let code = V2_6_27.table_size(ram);
        let c = crashed(V2_6_27, ram);
        let old_tar = c.k.chip.tar(0);
        let saved_max_pfn = linux::qemu_i440fx_max_pfn(ram);
        assert_eq!(V2_6_27.kdump_table_size(saved_max_pfn), code);
        let (mut k, mapped, latched) = capture(c, V2_6_27, code);
        // get_tce_space_from_tar read TAR, then TAR was rewritten with the
        // same value (a flush, nothing else).
        assert_eq!(k.tbls[0].it_base, TABLE_BASE);
        assert_eq!(k.chip.tar(0), old_tar);
        assert_eq!(k.chip.table_entries(0), 8192 << code);
        // The bitmap rebuilt from non-zero TCEs holds the old mappings.
        for (a, _) in &mapped {
            assert!(k.tbls[0].map.bits[(*a >> 12) as usize]);
        }
        // In-flight DMA of the old kernel still lands where it was mapped.
        for (a, phys) in &mapped {
            assert_eq!(k.dma(0x20, *a, Direction::Write).unwrap().phys, *phys);
        }
        // The capture kernel's own mapping never reuses an old one.
        let n = k.map(0x20, 0x0444_0000, 1, false).unwrap();
        assert!(mapped.iter().all(|(a, _)| a >> 12 != n >> 12));
        assert_eq!(k.dma(0x20, n, Direction::Read).unwrap().phys, 0x0444_0000);
        k.blast(0x20);
        assert_eq!(k.dma(0x20, n, Direction::Read).unwrap().phys, 0x0444_0000);
        // PHB 1 was disabled before the crash: enable only ORs bits, so it
        // stays disabled and everything behind it is blocked.
        assert_ne!(
            k.chip.reg(1, regs::RegId::PhbConfigRw) as u32 & regs::PHB_SLOT_DISABLE,
            0
        );
        assert_eq!(
            k.dma(0x24, 0x0010_0000, Direction::Read)
                .unwrap_err()
                .reason,
            FaultReason::SlotDisabled
        );
        // PHB 2's latched error survived kexec: the capture kernel's first
        // watchdog tick reports it and disables that slot.
        assert_eq!(k.chip.phb_csr(2), latched);
        assert!(k.watchdog(0x28));
        let want = format!(
            "Calgary: DMA error on Calgary PHB 0x28, {latched:#010x}@CSR {:#010x}@PLSSR",
            0x0071_0000
        );
        assert!(k.log.contains(&want), "{:?}", k.log);
    }
}

#[test]
fn kdump_capture_code_larger_than_crashed_code_grows_the_table_in_place() {
    // 2.6.27-3.10 kdump kernel booted without memmap=exactmap:
    // saved_max_pfn is 0, get_order(0) clamps to 7, while the crashed
    // kernel used the RAM-sized code (4 at -m 384M).  TAR & ~7 keeps the
    // aligned table address; TAR becomes table | 4 | 7 = code 7.
    let ram = 384 * MIB;
    let old = V2_6_27.table_size(ram);
    assert_eq!(old, 4);
    let new = V2_6_27.kdump_table_size(0);
    assert_eq!(new, 7);
    let (mut k, mapped, _) = capture(crashed(V2_6_27, ram), V2_6_27, new);
    assert_eq!(k.tbls[0].it_base, TABLE_BASE);
    assert_eq!(k.chip.tar(0), TABLE_BASE | 7);
    // The model follows TAR: the table now has 1 M entries; the old
    // mappings sit at the same indexes and keep translating.
    assert_eq!(k.chip.table_entries(0), 1 << 20);
    for (a, phys) in &mapped {
        assert_eq!(k.dma(0x20, *a, Direction::Write).unwrap().phys, *phys);
    }
    // Beyond the crashed kernel's table the model reads the RAM that
    // follows it (zero here): not valid rather than out of range.
    let past = (8192u64 << old) << 12;
    assert_eq!(
        k.dma(0x20, past, Direction::Read).unwrap_err().reason,
        FaultReason::NotValid
    );
    let n = k.map(0x20, 0x0555_0000, 1, false).unwrap();
    assert_eq!(k.dma(0x20, n, Direction::Write).unwrap().phys, 0x0555_0000);
}

#[test]
fn kdump_capture_code_smaller_than_crashed_code_misplaces_new_tces() {
    // 3.16+: the crashed kernel used the fixed code 7; a capture kernel
    // that has saved_max_pfn sizes its table from RAM (4 at -m 384M).
    // get_tce_space_from_tar masks with ~4 only, so its table pointer is
    // TABLE_BASE | 3 and TAR is rewritten as table | 3 | 4 = code 7.
    let ram = 384 * MIB;
    assert_eq!(V3_16.table_size(ram), 7);
    let new = V3_16.kdump_table_size(linux::qemu_i440fx_max_pfn(ram));
    assert_eq!(new, 4);
    let (mut k, mapped, _) = capture(crashed(V3_16, ram), V3_16, new);
    assert_eq!(k.tbls[0].it_base, TABLE_BASE | 3);
    assert_eq!(k.chip.tar(0), TABLE_BASE | 7, "size code unchanged: 3 | 4");
    assert_eq!(k.chip.table_entries(0), 1 << 20);
    // The old mappings keep translating (TAR still points at them).
    for (a, phys) in &mapped {
        assert_eq!(k.dma(0x20, *a, Direction::Write).unwrap().phys, *phys);
    }
    // The capture kernel writes its TCEs 3 bytes off.  The model reads the
    // entry the hardware reads — the 8 aligned bytes at TABLE_BASE + 8 *
    // index — and does not guess what the kernel meant: the DMA goes where
    // those bytes say, or is blocked when their permission bits are 0.
    let n = k.map(0x20, 0x0666_0000, 1, false).unwrap();
    assert_eq!(n >> 12, 262, "after the low MiB and the 6 old pages");
    // The kernel meant 0x0666_0000 | read | write.  Big-endian bytes
    // 00 00 00 00 06 66 00 03 land at byte 3 of entry 262: the hardware's
    // entry 262 is 00 00 00 | 00 00 00 00 06 = 0x6 (write only, page 0);
    // bytes 66 00 03 go to the top of entry 263.
    assert_eq!(k.mem.read_raw_u64_be(TABLE_BASE + 8 * 262), 0x6);
    assert_eq!(
        k.mem.read_raw_u64_be(TABLE_BASE + 8 * 263),
        0x6600_0300_0000_0000
    );
    // A device write meant for 0x0666_0000 lands in page 0; a device read
    // is blocked (no read permission).
    assert_eq!(k.dma(0x20, n, Direction::Write).unwrap().phys, 0);
    assert_eq!(
        k.dma(0x20, n, Direction::Read).unwrap_err().reason,
        FaultReason::WriteOnly
    );
    // Entry 263 has its top bytes set and no permission bit: not valid.
    assert_eq!(
        k.dma(0x20, 263 << 12, Direction::Read).unwrap_err().reason,
        FaultReason::NotValid
    );
}
