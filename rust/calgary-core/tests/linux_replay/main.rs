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
#[path = "../common/mod.rs"]
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

mod bring_up;
mod errors;
mod windows;
