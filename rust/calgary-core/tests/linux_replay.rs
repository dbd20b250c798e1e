//! §6: the register sequences of Linux's pci-calgary_64.c / tce_64.c,
//! replayed against the model, every outcome asserted.
//!
//! `Linux` below is a small re-enactment of the driver written from the
//! hardware contract: it keeps the same raw (un-swapped) accesses where the
//! driver has them (AER save/restore, split-queue poll).
#![allow(
    clippy::unwrap_used,
    clippy::indexing_slicing,
    clippy::panic,
    clippy::expect_used
)]
mod common;

use calgary_core::regs::{self, RegId};
use calgary_core::rio::{self, RioChip};
use calgary_core::*;
use common::linux::{self, ItMap, LOW_RESERVE_2_6_21};
use common::*;

const EMERGENCY_PAGES: usize = 32;
const TABLE_BASE: u64 = 0x80_0000; // 8 MiB, aligned for every size code

/// What the driver keeps per translated bus (struct iommu_table).
struct Tbl {
    bus: u8,
    table: u64,
    entries: usize,
    bitmap: ItMap,
    hint: usize,
    tar_val: u64,
    watchdog_armed: bool,
}

struct Linux {
    chip: Chip,
    mem: VecMem,
    tbls: Vec<Tbl>,
    log: Vec<String>,
    bus_to_phb: [Option<usize>; 256],
}

impl Linux {
    /// detect_calgary + calgary_locate_bbars: Rio table from the EBDA,
    /// then the STUFF register of every PHB of every Calgary entry.
    fn boot(chip: Chip) -> Linux {
        let mut low = vec![0u8; 1 << 20];
        let table = rio::build(&[RioChip {
            bbar: chip.config().bbar,
            variant: chip.variant(),
            chassis: 1,
            node: 0,
        }])
        .unwrap();
        rio::place(&mut low, 0x9FC0, &table).unwrap();
        let parsed = rio::parse(&low).expect("Rio Grande table");
        assert!(parsed.linux_accepts(1), "MAX_NUMNODES=1 kernel accepts it");
        assert_eq!(parsed.calgary_bbars(), vec![chip.config().bbar]);
        let mut l = Linux {
            chip,
            mem: VecMem::new(TABLE_BASE as usize + (8 << 20) * 2),
            tbls: Vec::new(),
            log: vec!["PCI-DMA: Calgary IOMMU detected.".into()],
            bus_to_phb: [None; 256],
        };
        for phb in 0..4 {
            let val = readl(&mut l.chip, regs::stuff(phb));
            let start = ((val & 0x00FF_0000) >> 16) as usize;
            let end = ((val & 0x0000_FF00) >> 8) as usize;
            if end != 0 {
                for b in start..=end {
                    l.bus_to_phb[b] = Some(phb);
                }
            } else {
                l.bus_to_phb[start] = Some(phb);
            }
        }
        l
    }

    fn phb_of(&self, bus: u8) -> usize {
        self.bus_to_phb[bus as usize].expect("bus belongs to a PHB")
    }

    /// calgary_init_one: table, reservations, TAR, quirks, translation.
    fn init_one(&mut self, bus: u8, size_code: u64) {
        let phb = self.phb_of(bus);
        let entries = 8192usize << size_code;
        let table = TABLE_BASE;
        // tce_free(tbl, 0, it_size)
        for i in 0..entries as u64 {
            self.mem.write_u64_be(table + i * 8, 0);
        }
        let mut t = Tbl {
            bus,
            table,
            entries,
            bitmap: ItMap::new(size_code),
            hint: 0,
            tar_val: 0,
            watchdog_armed: false,
        };
        // calgary_reserve_regions, exactly as Linux: start clamped to the
        // table, length not.  A real kernel would write past its bitmap
        // here; the replay refuses to go on as if nothing happened.
        let done =
            linux::calgary_reserve_regions(&mut self.chip, phb, &mut t.bitmap, LOW_RESERVE_2_6_21);
        assert_eq!(
            t.bitmap.overrun_bits(),
            0,
            "reservations {done:x?} write {} bytes past a {}-byte bitmap",
            t.bitmap.overrun_bytes(),
            t.bitmap.bitmap_bytes()
        );
        // calgary_setup_tar
        let mut val64 = readq(&mut self.chip, regs::tar(phb));
        val64 &= !regs::TAR_SW_BITS;
        val64 |= table;
        val64 |= size_code;
        t.tar_val = val64;
        assert_eq!(
            writeq(&mut self.chip, regs::tar(phb), val64),
            Some(MmioEvent::CacheFlushed { phb: phb as u8 })
        );
        assert_eq!(readq(&mut self.chip, regs::tar(phb)), val64);
        // quirks
        match self.chip.variant() {
            Variant::Calgary => {
                if bus == 1 {
                    let shift = [63 - 19, 63 - 23, 63 - 27, 63 - 35][phb];
                    let mut v = readq(&mut self.chip, regs::CALGARY_CONFIG);
                    v &= !(0xFu64 << shift);
                    v |= regs::CCR_2SEC_TIMEOUT << shift;
                    writeq(&mut self.chip, regs::CALGARY_CONFIG, v);
                    readq(&mut self.chip, regs::CALGARY_CONFIG);
                }
            }
            Variant::CalIoc2 => {
                let off = regs::phb_reg(phb, regs::PHB_SAVIOR_L2);
                // The driver uses cpu_to_be32 on the read: same swap.
                let v = readl(&mut self.chip, off) | regs::SAVIOR_L2_LINUX_BIT;
                writel(&mut self.chip, off, v);
            }
        }
        // calgary_enable_translation
        let off = regs::phb_reg(phb, regs::PHB_CONFIG_RW_OFFSET);
        let v = readl(&mut self.chip, off)
            | regs::PHB_TCE_ENABLE
            | regs::PHB_DAC_DISABLE
            | regs::PHB_MCSR_ENABLE;
        let name = self.chip.variant().name();
        self.log.push(format!(
            "Calgary: enabling translation on {name} PHB {bus:#x}"
        ));
        self.log
            .push("Calgary: errant DMAs will now be prevented on this bus.".into());
        assert_eq!(
            writel(&mut self.chip, off, v),
            Some(MmioEvent::TranslationEnabled {
                phb: phb as u8,
                on: true
            })
        );
        readl(&mut self.chip, off);
        t.watchdog_armed = true;
        self.tbls.push(t);
    }

    fn tbl(&mut self, bus: u8) -> &mut Tbl {
        self.tbls.iter_mut().find(|t| t.bus == bus).unwrap()
    }

    fn find_free(t: &Tbl, from: usize, npages: usize) -> Option<usize> {
        let mut i = from;
        while i + npages <= t.entries {
            if t.bitmap.bits[i..i + npages].iter().all(|b| !b) {
                return Some(i);
            }
            i += 1;
        }
        None
    }

    /// iommu_alloc + tce_build: returns the DMA address.
    fn map(&mut self, bus: u8, phys: u64, npages: usize, to_device: bool) -> Option<u64> {
        let t = self.tbl(bus);
        let off = match Self::find_free(t, t.hint, npages) {
            Some(o) => o,
            None => {
                self.blast(bus);
                let t = self.tbl(bus);
                match Self::find_free(t, 0, npages) {
                    Some(o) => o,
                    None => {
                        self.log.push("Calgary: IOMMU full.".into());
                        return None;
                    }
                }
            }
        };
        let t = self.tbl(bus);
        for b in &mut t.bitmap.bits[off..off + npages] {
            *b = true;
        }
        t.hint = off + npages;
        let table = t.table;
        for i in 0..npages as u64 {
            map(
                &self.mem,
                table,
                off as u64 + i,
                phys + (i << 12),
                to_device,
            );
        }
        Some(((off as u64) << 12) | (phys & 0xfff))
    }

    /// iommu_free + tce_free: zero the TCEs, no flush.
    fn unmap(&mut self, bus: u8, dma: u64, npages: usize) {
        let t = self.tbl(bus);
        let idx = (dma >> 12) as usize;
        for b in &mut t.bitmap.bits[idx..idx + npages] {
            *b = false;
        }
        let table = t.table;
        for i in 0..npages as u64 {
            unmap(&self.mem, table, idx as u64 + i);
        }
    }

    /// calgary_tce_cache_blast / calioc2_tce_cache_blast.  Returns the
    /// number of split-queue polls.
    fn blast(&mut self, bus: u8) -> usize {
        let phb = self.phb_of(bus);
        let tar_val = self.tbl(bus).tar_val;
        let c = &mut self.chip;
        let mut polls = 0;
        match c.variant() {
            Variant::Calgary => {
                let aer_off = regs::phb_reg(phb, regs::PHB_AER_OFFSET);
                let aer = readl_raw_x86(c, aer_off);
                writel(c, aer_off, 0);
                let _plssr = readl_raw_x86(c, regs::phb_reg(phb, regs::PHB_PLSSR_OFFSET));
                loop {
                    let v = readq_raw_x86(c, regs::split_queue(phb));
                    polls += 1;
                    if v & 0xff == 0xff || polls >= 100 {
                        break;
                    }
                }
                if polls == 100 {
                    self.log
                        .push("Calgary: PCI bus not quiesced, continuing anyway".into());
                }
                let c = &mut self.chip;
                assert_eq!(
                    writeq(c, regs::tar(phb), tar_val),
                    Some(MmioEvent::CacheFlushed { phb: phb as u8 })
                );
                writel_raw_x86(c, aer_off, aer);
                let _ = readl_raw_x86(c, aer_off);
            }
            Variant::CalIoc2 => {
                let pmcr = regs::phb_reg(phb, regs::PHB_PAGE_MIG_CTRL);
                let pmdr = regs::phb_reg(phb, regs::PHB_PAGE_MIG_DEBUG);
                let mut count = 1;
                loop {
                    let v = readl(c, pmcr) | regs::PMR_SOFTSTOP;
                    writel(c, pmcr, v);
                    assert_eq!(c.stop_state(phb), StopState::SoftStop);
                    loop {
                        let v = readq_raw_x86(c, regs::split_queue(phb));
                        polls += 1;
                        if v & 0xff == 0xff || polls >= 100 {
                            break;
                        }
                    }
                    if readl(c, pmdr) & regs::PMR_SOFTSTOPFAULT != 0 {
                        count += 1;
                        if count < 100 {
                            continue;
                        }
                        self.log.push(
                            "CalIOC2: too many SoftStopFaults, aborting TCE cache flush sequence!"
                                .into(),
                        );
                        return polls;
                    }
                    break;
                }
                assert_eq!(count, 1, "SoftStopFault never set");
                let _ = readl(c, pmcr); // slam into HardStop
                assert_eq!(c.stop_state(phb), StopState::HardStop);
                let _ = readl(c, pmdr);
                assert_eq!(
                    writeq(c, regs::tar(phb), tar_val),
                    Some(MmioEvent::CacheFlushed { phb: phb as u8 })
                );
                let v = readl(c, pmcr);
                assert_eq!(v & regs::PMR_HARDSTOP, regs::PMR_HARDSTOP);
                writel(c, pmcr, 0);
                assert_eq!(readl(c, pmcr), 0);
                assert_eq!(c.stop_state(phb), StopState::Running);
            }
        }
        polls
    }

    /// calgary_watchdog, one tick.  Returns true if it found an error.
    fn watchdog(&mut self, bus: u8) -> bool {
        let phb = self.phb_of(bus);
        if !self.tbl(bus).watchdog_armed {
            return false;
        }
        let c = &mut self.chip;
        let csr_off = regs::phb_reg(phb, regs::PHB_CSR_OFFSET);
        let csr = readl(c, csr_off);
        if csr & regs::CSR_AGENT_MASK == 0 {
            return false; // mod_timer: re-armed
        }
        // dump_error_regs
        let csr = readl(c, csr_off);
        let plssr = readl(c, regs::phb_reg(phb, regs::PHB_PLSSR_OFFSET));
        match c.variant() {
            Variant::Calgary => self.log.push(format!(
                "Calgary: DMA error on Calgary PHB {bus:#x}, {csr:#010x}@CSR {plssr:#010x}@PLSSR"
            )),
            Variant::CalIoc2 => {
                let csmr = readl(c, regs::phb_reg(phb, regs::PHB_CSMR));
                let mck = readl(c, regs::phb_reg(phb, regs::PHB_MCK));
                let errs: Vec<u32> = (0..7)
                    .map(|i| readl(c, regs::phb_reg(phb, 0x810 + i * 0x10)))
                    .collect();
                let rc = readl(c, regs::phb_reg(phb, regs::PHB_ROOT_COMPLEX_STATUS));
                self.log
                    .push(format!("Calgary: DMA error on CalIOC2 PHB {bus:#x}"));
                self.log.push(format!(
                    "Calgary: {csr:#010x}@CSR {plssr:#010x}@PLSSR {csmr:#010x}@CSMR {mck:#010x}@MCK {errs:x?} {rc:#x}"
                ));
            }
        }
        let c = &mut self.chip;
        assert_eq!(
            c.mmio_write(csr_off, 4, 0),
            Some(MmioEvent::ErrorCleared { phb: phb as u8 })
        );
        let cfg_off = regs::phb_reg(phb, regs::PHB_CONFIG_RW_OFFSET);
        let v = readl(c, cfg_off) | regs::PHB_SLOT_DISABLE;
        assert_eq!(
            writel(c, cfg_off, v),
            Some(MmioEvent::SlotDisabled {
                phb: phb as u8,
                on: true
            })
        );
        readl(c, cfg_off);
        self.tbl(bus).watchdog_armed = false;
        true
    }

    fn dma(&mut self, bus: u8, addr: u64, dir: Direction) -> Result<Translation, Fault> {
        let phb = self.phb_of(bus);
        let req = Requester { bus, devfn: 0x08 };
        self.chip
            .translate(phb, addr, dir, Access::Device, req, &self.mem)
    }
}

fn chip_with_buses(variant: Variant, policy: CachePolicy, buses: [u8; 4]) -> Chip {
    let mut cfg = cfg(variant, policy);
    for (p, b) in buses.iter().enumerate() {
        cfg.phbs[p] = phb_cfg(*b);
    }
    Chip::new(cfg).unwrap()
}

fn boot(variant: Variant, policy: CachePolicy) -> Linux {
    Linux::boot(chip_with_buses(variant, policy, [0x10, 0x20, 0x30, 0x40]))
}

#[test]
fn linux_detect_finds_chip_via_rio_and_every_phb_via_stuff() {
    let mut cfg = cfg(Variant::Calgary, CachePolicy::Faithful);
    cfg.phbs[3] = PhbConfig {
        first_bus: 0x40,
        last_bus: 0x42,
        mem1_start: 0xC000_0000,
        mem1_limit: 0xFFFF_FFFF,
    };
    let l = Linux::boot(Chip::new(cfg).unwrap());
    assert_eq!(l.bus_to_phb[0x10], Some(0));
    assert_eq!(l.bus_to_phb[0x20], Some(1));
    assert_eq!(l.bus_to_phb[0x30], Some(2));
    for b in 0x40..=0x42 {
        assert_eq!(l.bus_to_phb[b], Some(3));
    }
    assert_eq!(l.bus_to_phb.iter().filter(|x| x.is_some()).count(), 6);
}

#[test]
fn linux_tar_programming_with_each_size_code() {
    for s in 0..8u64 {
        let mut l = boot(Variant::Calgary, CachePolicy::Faithful);
        l.init_one(0x10, s);
        assert_eq!(l.chip.table_entries(0), 8192 << s);
        assert_eq!(l.chip.tar(0) & regs::TAR_SW_BITS, TABLE_BASE | s);
        // The highest IO page Linux can hand out below MEM_1 translates.
        let entries = 8192u64 << s;
        let last = (entries - 1).min((0xC000_0000 >> 12) - 1);
        map(&l.mem, TABLE_BASE, last, 0x4000, false);
        assert_eq!(
            l.dma(0x10, (last << 12) | 0x10, Direction::Write)
                .unwrap()
                .phys,
            0x4010,
            "s={s}"
        );
        if entries < (0xC000_0000 >> 12) {
            assert_eq!(
                l.dma(0x10, entries << 12, Direction::Read)
                    .unwrap_err()
                    .reason,
                FaultReason::OutOfRange
            );
        }
    }
}

#[test]
fn linux_calgary_quirk_split_completion_timeout_on_bus_1() {
    // Bus 1 on PHB 1: field at bit 40.
    let mut l = Linux::boot(chip_with_buses(
        Variant::Calgary,
        CachePolicy::Faithful,
        [0x10, 0x01, 0x30, 0x40],
    ));
    l.init_one(0x10, 0);
    assert_eq!(l.chip.reg(0, RegId::CalgaryConfig), 0, "only bus 1");
    l.init_one(0x01, 0);
    assert_eq!(l.chip.reg(0, RegId::CalgaryConfig), 0xE << 40);
    for (phb, shift) in [(0usize, 44), (2, 36), (3, 28)] {
        let mut buses = [0x10, 0x20, 0x30, 0x40];
        buses[phb] = 1;
        let mut l = Linux::boot(chip_with_buses(
            Variant::Calgary,
            CachePolicy::Faithful,
            buses,
        ));
        l.init_one(1, 0);
        assert_eq!(readq(&mut l.chip, regs::CALGARY_CONFIG), 0xE << shift);
    }
}

#[test]
fn linux_calioc2_quirk_sets_savior_l2_bit() {
    let mut l = boot(Variant::CalIoc2, CachePolicy::Faithful);
    l.init_one(0x20, 0);
    assert_eq!(
        l.chip.reg(1, RegId::SaviorL2),
        u64::from(regs::SAVIOR_L2_LINUX_BIT)
    );
    assert_eq!(l.chip.reg(0, RegId::SaviorL2), 0);
}

#[test]
fn linux_enable_translation_sets_tce_dac_mcsr_and_logs() {
    let mut l = boot(Variant::Calgary, CachePolicy::Faithful);
    l.init_one(0x30, 7);
    let cfg = l.chip.reg(2, RegId::PhbConfigRw) as u32;
    // Linux ORs its bits into the reset value, which enables MEM_2.
    assert_eq!(
        cfg,
        regs::PHB_MEM2_ENABLE
            | regs::PHB_TCE_ENABLE
            | regs::PHB_DAC_DISABLE
            | regs::PHB_MCSR_ENABLE
    );
    assert!(l.chip.translation_enabled(2));
    assert!(!l.chip.translation_enabled(0));
    assert!(l
        .log
        .contains(&"Calgary: enabling translation on Calgary PHB 0x30".to_string()));
}

#[test]
fn linux_map_unmap_dma_through_tces() {
    for policy in [
        CachePolicy::Off,
        CachePolicy::Coherent,
        CachePolicy::Faithful,
    ] {
        let mut l = boot(Variant::Calgary, policy);
        l.init_one(0x10, 7);
        // Linux never hands out reserved pages.
        let a = l.map(0x10, 0x0123_4560, 3, false).unwrap();
        // MEM_2 covers the first MiB at reset, so Linux reserves pages
        // 0..255 (never IO address 0) and the first mapping comes after.
        assert_eq!(
            a >> 12,
            256u64.max(EMERGENCY_PAGES as u64),
            "first free page after the reserved low MiB"
        );
        for i in 0..3u64 {
            let t = l.dma(0x10, a + (i << 12), Direction::Write).unwrap();
            assert_eq!(t.phys, 0x0123_4560 + (i << 12));
            assert_eq!(t.kind, XlateKind::Translated);
        }
        let b = l.map(0x10, 0x0200_0000, 1, true).unwrap(); // DMA_TO_DEVICE
        assert!(l.dma(0x10, b, Direction::Read).is_ok());
        let f = l.dma(0x10, b, Direction::Write).unwrap_err();
        assert_eq!((f.reason, f.newly_latched), (FaultReason::ReadOnly, true));
        l.unmap(0x10, a, 3);
        l.unmap(0x10, b, 1);
    }
}

#[test]
fn linux_calgary_flush_sequence() {
    let mut l = boot(Variant::Calgary, CachePolicy::Faithful);
    l.init_one(0x10, 0);
    // Give AER a recognisable value so the save/restore is visible.
    writel(
        &mut l.chip,
        regs::phb_reg(0, regs::PHB_AER_OFFSET),
        0x8000_00F1,
    );
    let a = l.map(0x10, 0x5000, 1, false).unwrap();
    l.dma(0x10, a, Direction::Read).unwrap();
    assert_eq!(l.chip.cache_occupancy(0), 1);
    let flushes = l.chip.stats(0).unwrap().flushes;
    let polls = l.blast(0x10);
    assert_eq!(polls, 1, "split queue idle on the first poll");
    assert!(!l.log.iter().any(|s| s.contains("not quiesced")));
    assert_eq!(l.chip.cache_occupancy(0), 0);
    assert_eq!(l.chip.stats(0).unwrap().flushes, flushes + 1);
    assert_eq!(l.chip.reg(0, RegId::Aer), 0x8000_00F1, "AER restored");
    assert_eq!(
        l.chip.tar(0),
        l.tbl(0x10).tar_val,
        "TAR rewritten with the same value"
    );
    assert_eq!(l.chip.phb_csr(0), 0);
}

#[test]
fn linux_calioc2_flush_sequence() {
    let mut l = boot(Variant::CalIoc2, CachePolicy::Faithful);
    l.init_one(0x40, 0);
    let a = l.map(0x40, 0x5000, 1, false).unwrap();
    assert!(a >= 1 << 20, "CalIOC2 reserves the whole first MiB");
    l.dma(0x40, a, Direction::Read).unwrap();
    let polls = l.blast(0x40);
    assert_eq!(polls, 1);
    assert_eq!(l.chip.cache_occupancy(3), 0);
    assert_eq!(l.chip.stats(3).unwrap().flushes, 2);
    assert!(!l.log.iter().any(|s| s.contains("SoftStopFault")));
}

#[test]
fn linux_freed_unflushed_entry_translates_in_faithful_faults_in_off() {
    for (policy, expect_ok) in [
        (CachePolicy::Faithful, true),
        (CachePolicy::Off, false),
        (CachePolicy::Coherent, false),
    ] {
        let mut l = boot(Variant::Calgary, policy);
        l.init_one(0x10, 0);
        let a = l.map(0x10, 0x7000, 1, false).unwrap();
        l.dma(0x10, a, Direction::Write).unwrap();
        l.unmap(0x10, a, 1);
        let r = l.dma(0x10, a, Direction::Write);
        assert_eq!(r.is_ok(), expect_ok, "{policy}");
        if let Ok(t) = r {
            assert_eq!(t.phys, 0x7000);
        } else {
            assert_eq!(r.unwrap_err().reason, FaultReason::NotValid);
        }
        if policy == CachePolicy::Coherent {
            assert_eq!(
                l.chip.stats(0).unwrap().stale_hits,
                1,
                "where hardware would have used it"
            );
        }
        l.blast(0x10);
        assert!(
            l.dma(0x10, a, Direction::Write).is_err(),
            "{policy}: gone after the flush"
        );
    }
}

#[test]
fn linux_allocator_wraps_only_after_blast_so_no_stale_translation() {
    // Small cache, smallest table: thousands of map/DMA/unmap cycles wrap
    // the allocator several times; every DMA must see its own mapping.
    let mut cfg = cfg(Variant::Calgary, CachePolicy::Faithful);
    cfg.cache.entries = 16;
    cfg.cache.ways = 2;
    let mut l = Linux::boot(Chip::new(cfg).unwrap());
    l.init_one(0x10, 0);
    for i in 0..30_000u64 {
        let phys = 0x1000_0000 + ((i % 4096) << 12);
        let n = 1 + (i % 3) as usize;
        let a = l.map(0x10, phys, n, i % 2 == 0).unwrap();
        for k in 0..n as u64 {
            assert_eq!(
                l.dma(0x10, a + (k << 12), Direction::Read).unwrap().phys,
                phys + (k << 12)
            );
        }
        l.unmap(0x10, a, n);
    }
    let s = l.chip.stats(0).unwrap();
    assert!(
        s.flushes > 3,
        "the allocator wrapped ({} flushes)",
        s.flushes
    );
    assert_eq!(s.blocked_total(), 0);
    assert!(!l.log.iter().any(|m| m.contains("IOMMU full")));
}

#[test]
fn linux_iommu_full_after_blast_and_retry() {
    let mut l = boot(Variant::Calgary, CachePolicy::Faithful);
    l.init_one(0x10, 0);
    let free = l.tbl(0x10).bitmap.free();
    let flushes = l.chip.stats(0).unwrap().flushes;
    let mut mapped = 0;
    while l.map(0x10, 0x1000, 1, false).is_some() {
        mapped += 1;
    }
    assert_eq!(mapped, free);
    assert_eq!(
        l.chip.stats(0).unwrap().flushes,
        flushes + 1,
        "blast before giving up"
    );
    assert!(l.log.iter().any(|m| m.contains("IOMMU full")));
}

#[test]
fn linux_watchdog_reports_once_clears_csr_and_disables_slot() {
    for variant in [Variant::Calgary, Variant::CalIoc2] {
        let mut l = boot(variant, CachePolicy::Faithful);
        l.init_one(0x10, 7);
        assert!(!l.watchdog(0x10), "healthy bus: nothing to report");
        let a = l.map(0x10, 0x5000, 1, false).unwrap();
        l.dma(0x10, a, Direction::Read).unwrap();
        // Errant DMA to a page nobody mapped.
        let f = l.dma(0x10, 0x7000_0000, Direction::Write).unwrap_err();
        assert!(f.newly_latched);
        assert!(l.watchdog(0x10));
        let want = match variant {
            Variant::Calgary => {
                "Calgary: DMA error on Calgary PHB 0x10, 0xa4001008@CSR 0x70000000@PLSSR"
            }
            Variant::CalIoc2 => "Calgary: DMA error on CalIOC2 PHB 0x10",
        };
        assert!(l.log.iter().any(|m| m == want), "{variant}: {:?}", l.log);
        assert_eq!(l.chip.phb_csr(0), 0);
        // Everything behind the PHB is now cut off, even mapped pages.
        assert_eq!(
            l.dma(0x10, a, Direction::Read).unwrap_err().reason,
            FaultReason::SlotDisabled
        );
        assert!(!l.watchdog(0x10), "watchdog no longer armed");
        assert_eq!(
            l.chip.last_fault(0).unwrap().reason,
            FaultReason::SlotDisabled
        );
        assert_eq!(l.chip.stats(0).unwrap().errors_latched, 2);
    }
}

#[test]
fn linux_qemu_probe_does_not_trip_watchdog() {
    let mut l = boot(Variant::Calgary, CachePolicy::Faithful);
    l.init_one(0x10, 7);
    for a in [0x7000_0000u64, 0x1_0000_0000, 0x40_0000] {
        let _ = l.chip.translate(
            0,
            a,
            Direction::Read,
            Access::Probe,
            Requester::default(),
            &l.mem,
        );
    }
    assert!(!l.watchdog(0x10));
    assert_eq!(l.chip.stats(0).unwrap().blocked_total(), 0);
}

#[test]
fn linux_calgary_disable_leaves_bus_untranslated() {
    // calgary=disable=0x20: the driver never writes TAR nor TCE_ENABLE there.
    let mut l = boot(Variant::Calgary, CachePolicy::Faithful);
    l.init_one(0x10, 7);
    let t = l.dma(0x20, 0x1234_5000, Direction::Write).unwrap();
    assert_eq!((t.phys, t.kind), (0x1234_5000, XlateKind::Bypass));
    assert_eq!(l.chip.tar(1), 0);
    assert_eq!(l.chip.stats(1).unwrap().bypassed, 1);
}

#[test]
fn linux_kdump_kernel_reuses_table_from_tar() {
    let mut l = boot(Variant::Calgary, CachePolicy::Faithful);
    l.init_one(0x10, 3);
    let a = l.map(0x10, 0xABC000, 1, false).unwrap();
    // get_tce_space_from_tar in the crash kernel
    let tar = readq(&mut l.chip, regs::tar(0));
    let size = tar & 7;
    let space = tar & regs::TAR_SW_BITS & !size;
    assert_eq!((space, size), (TABLE_BASE, 3));
    // In-flight DMA of the old kernel still lands where it was mapped.
    assert_eq!(l.dma(0x10, a, Direction::Write).unwrap().phys, 0xABC000);
}

#[test]
fn linux_mem_windows_reserved_match_model_windows() {
    // Every IO page Linux leaves free is one the model translates, every
    // page it reserves (except emergency pages) the model passes through.
    for variant in [Variant::Calgary, Variant::CalIoc2] {
        let mut l = boot(variant, CachePolicy::Off);
        l.init_one(0x10, 7);
        let bitmap = l.tbl(0x10).bitmap.bits.clone();
        for (i, reserved) in bitmap.iter().enumerate().step_by(97) {
            let r = l.chip.translate(
                0,
                (i as u64) << 12,
                Direction::Read,
                Access::Probe,
                DEV,
                &l.mem,
            );
            if i < EMERGENCY_PAGES && !(variant == Variant::CalIoc2) {
                continue;
            }
            match r {
                Ok(t) => assert!(
                    *reserved && t.kind == XlateKind::Window,
                    "{variant} page {i:#x}"
                ),
                Err(f) => assert!(
                    !reserved && f.reason == FaultReason::NotValid,
                    "{variant} page {i:#x}"
                ),
            }
        }
    }
}

/// `calgary_reserve_regions` of a 2.6.21+ kernel on PHB 0 of a chip whose
/// MEM_1 starts at `mem1_start` (and ends at 0xFFFFFFFF), for a table of
/// size code `size_code`.
fn reserve_on(
    variant: Variant,
    mem1_start: u64,
    size_code: u64,
) -> (ItMap, Vec<linux::Reservation>) {
    let mut cfg = cfg(variant, CachePolicy::Off);
    for p in cfg.phbs.iter_mut() {
        p.mem1_start = mem1_start;
        p.mem1_limit = 0xFFFF_FFFF;
    }
    let mut chip = Chip::new(cfg).unwrap();
    let mut map = ItMap::new(size_code);
    let done = linux::calgary_reserve_regions(&mut chip, 0, &mut map, LOW_RESERVE_2_6_21);
    (map, done)
}

/// The MEM_1 start this machine used first: the below-4G RAM top, 1 MiB
/// aligned down.  Kept here to show what the replay catches.
fn mem1_start_at_ram_top(below_4g: u64) -> u64 {
    below_4g & !0xF_FFFF
}

#[test]
fn linux_reservation_overruns_bitmap_when_mem1_starts_at_the_ram_top() {
    // (-m in MiB, RAM-sized code Linux 2.6.18-3.10 picks, bitmap KiB,
    //  KiB written past it): the figures of linux-driver-history.md.
    for (mib, code, bitmap_kib, past_kib) in [
        (384u64, 4u64, 16usize, 112usize),
        (768, 5, 32, 96),
        (1536, 6, 64, 64),
    ] {
        let ram = mib << 20;
        assert_eq!(
            linux::ram_sized_code(linux::qemu_i440fx_max_pfn(ram)),
            code,
            "-m {mib}M"
        );
        let start = mem1_start_at_ram_top(linux::qemu_i440fx_below_4g(ram));
        for variant in [Variant::Calgary, Variant::CalIoc2] {
            let (map, done) = reserve_on(variant, start, code);
            assert_eq!(map.bitmap_bytes(), bitmap_kib << 10, "-m {mib}M");
            assert_eq!(
                map.overrun_bytes(),
                past_kib << 10,
                "-m {mib}M {variant}: {done:x?}"
            );
            // The bitmap fills whole pages, so all of it lands on other
            // kernel memory.
            assert_eq!(map.overrun_past_alloc_bytes(), past_kib << 10);
        }
    }
}

#[test]
fn linux_reservation_clamps_the_start_not_the_length() {
    // A window starting beyond the table is skipped; one starting inside
    // keeps its full length.
    let (map, _) = reserve_on(Variant::Calgary, 0x0200_0000, 0); // 32 MiB = it_size
    assert_eq!(map.overrun_bits(), 0);
    assert_eq!(map.max_end, 256, "only the low MiB (MEM_2) and below");
    let (map, _) = reserve_on(Variant::Calgary, 0x01F0_0000, 0); // 1 MiB before the end
    assert_eq!(
        map.overrun_bits(),
        ((1u64 << 32) - 0x0200_0000) as usize >> 12
    );
}

#[test]
fn linux_reservation_never_overruns_for_any_ram_size_or_table_size() {
    // Every -m from 128 MiB to 3.5 GiB in 128 MiB steps, every size code
    // (calgary=64k..8M) and the RAM-sized code of 2.6.18-3.10, both
    // variants: MEM_1 at the core's reset start never makes Linux write
    // past its bitmap, and Linux never hands out an IO page inside it.
    let mut overruns = Vec::new();
    let mut checked = 0;
    for step in 1..=28u64 {
        let ram = step << 27;
        let below = linux::qemu_i440fx_below_4g(ram);
        let start = platform::mem1_start(below);
        assert!(start >= below, "-m {}M: MEM_1 covers RAM", ram >> 20);
        // The RAM-sized code is one of 0..7, so it is among the codes
        // below; it is named in the report.
        let ram_code = linux::ram_sized_code(linux::qemu_i440fx_max_pfn(ram));
        assert!(ram_code <= 7);
        for variant in [Variant::Calgary, Variant::CalIoc2] {
            for code in 0..8u64 {
                let (map, done) = reserve_on(variant, start, code);
                checked += 1;
                if map.overrun_bits() != 0 {
                    let mem1 = done.iter().find(|r| r.what == "MEM_1").unwrap();
                    overruns.push(format!(
                        "-m {}M {variant} code {code}{}: MEM_1 at {start:#x} ({:#x} pages) writes {} KiB past a {} KiB bitmap",
                        ram >> 20,
                        if code == ram_code { " (RAM-sized)" } else { "" },
                        mem1.npages,
                        map.overrun_bytes() >> 10,
                        map.bitmap_bytes() >> 10
                    ));
                    continue;
                }
                let first = (start >> 12) as usize;
                assert!(
                    map.bits.iter().skip(first).all(|b| *b),
                    "-m {}M {variant} code {code}: a page of MEM_1 left free",
                    ram >> 20
                );
            }
        }
    }
    assert_eq!(checked, 28 * 2 * 8);
    assert!(
        overruns.is_empty(),
        "{} of {checked} cases overrun:\n{}",
        overruns.len(),
        overruns.join("\n")
    );
}
