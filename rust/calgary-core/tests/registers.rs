//! §3: one test per row of the register table, plus the side effects.
#![allow(clippy::unwrap_used, clippy::indexing_slicing, clippy::panic)]
mod common;

use calgary_core::regs::{self, Behaviour, RegId, Width, REGISTERS};
use calgary_core::*;
use common::*;

fn guest_err(kind: GuestErrorKind, ev: Option<MmioEvent>) -> bool {
    matches!(ev, Some(MmioEvent::GuestError { kind: k, .. }) if k == kind)
}

fn variant_for(id: RegId) -> Variant {
    if id.info().calioc2_only {
        Variant::CalIoc2
    } else {
        Variant::Calgary
    }
}

fn expected_reset(id: RegId, p: usize) -> u64 {
    let pc = phb_cfg(0x10 * (p as u8 + 1));
    match id {
        RegId::SplitQueue => regs::SPLIT_QUEUE_IDLE,
        RegId::Stuff => u64::from(pc.stuff_value()),
        RegId::Mem1Low => pc.mem1_start & 0xFFFF_FFFF,
        RegId::Mem1High => pc.mem1_start >> 32,
        RegId::Mem1Size => pc.mem1_limit,
        // MEM_2 (the legacy first MiB) is enabled at reset (MODEL.md).
        RegId::PhbConfigRw => u64::from(regs::PHB_MEM2_ENABLE),
        _ => 0,
    }
}

/// Checks one row: present at its offset for every PHB, reset value, the
/// access behaviour, and that 1/2-byte (and, for 32-bit registers, 8-byte)
/// accesses are guest errors that read 0 and change nothing.
fn check_row(id: RegId) {
    let info = id.info();
    assert_eq!(REGISTERS[id.index()].id, id, "table is indexed by RegId");
    let mut c = chip(variant_for(id), CachePolicy::Faithful);
    let nphb = match info.placement {
        regs::Placement::Chip => 1,
        regs::Placement::PerPhb { .. } => 4,
    };
    for p in 0..nphb {
        let off = info.offset(p);
        let d = regs::decode(c.variant(), off).unwrap();
        assert_eq!(
            (d.reg.id, d.phb, d.byte),
            (id, if nphb == 1 { 0 } else { p }, 0)
        );
        let full_size = info.width.bytes() as u32;
        let reset = expected_reset(id, p);
        assert_eq!(c.mmio_read(off, full_size).0, reset, "{} reset", info.name);
        // Bad widths read 0, change nothing and are reported.
        for bad in [1u32, 2, 3, 16] {
            let (v, ev) = c.mmio_read(off, bad);
            assert_eq!(v, 0);
            assert!(
                guest_err(GuestErrorKind::BadWidth, ev),
                "{} read size {bad}",
                info.name
            );
            assert!(guest_err(
                GuestErrorKind::BadWidth,
                c.mmio_write(off, bad, u64::MAX)
            ));
        }
        if info.width == Width::W32 {
            assert!(guest_err(GuestErrorKind::BadWidth, c.mmio_read(off, 8).1));
            assert!(guest_err(
                GuestErrorKind::BadWidth,
                c.mmio_write(off, 8, u64::MAX)
            ));
        }
        assert_eq!(
            c.mmio_peek(off, full_size),
            Some(reset),
            "{} unchanged",
            info.name
        );

        // Behaviour.
        let pattern: u64 = match info.width {
            Width::W32 => 0x1234_5678,
            Width::W64 => 0x0000_1234_5678_8003,
        };
        match info.behaviour {
            Behaviour::Stored | Behaviour::TarFlush | Behaviour::PhbConfig => {
                c.mmio_write(off, full_size, pattern);
                assert_eq!(
                    c.mmio_read(off, full_size).0,
                    pattern,
                    "{} stored",
                    info.name
                );
            }
            Behaviour::ReadOnly => {
                assert!(guest_err(
                    GuestErrorKind::ReadOnly,
                    c.mmio_write(off, full_size, pattern)
                ));
                assert_eq!(
                    c.mmio_read(off, full_size).0,
                    reset,
                    "{} read-only",
                    info.name
                );
            }
            Behaviour::Csr => {
                assert!(guest_err(
                    GuestErrorKind::ValueIgnored,
                    c.mmio_write(off, 4, 0x8000_0000)
                ));
                assert_eq!(c.mmio_read(off, 4).0, 0);
                assert_eq!(c.mmio_write(off, 4, 0), None, "clearing nothing is silent");
            }
            Behaviour::Pmcr => {
                c.mmio_write(off, 4, u64::from(regs::PMR_HARDSTOP));
                assert_eq!(c.mmio_read(off, 4).0, 0, "HardStop is not writable");
            }
        }
        if info.width == Width::W64 && info.behaviour != Behaviour::ReadOnly {
            // Halves: lower offset = bits 63..32.
            c.mmio_write(off, 4, 0xAABB_CCDD);
            c.mmio_write(off + 4, 4, 0x1122_3344);
            assert_eq!(c.mmio_read(off, 8).0, 0xAABB_CCDD_1122_3344);
            assert_eq!(c.mmio_read(off, 4).0, 0xAABB_CCDD);
            assert_eq!(c.mmio_read(off + 4, 4).0, 0x1122_3344);
        }
    }
}

macro_rules! row_tests {
    ($($name:ident => $id:ident;)*) => {
        $( #[test] fn $name() { check_row(RegId::$id); } )*

        #[test]
        fn every_table_row_has_a_test() {
            let tested = [$(RegId::$id),*];
            for r in REGISTERS.iter() {
                assert!(tested.contains(&r.id), "no row test for {}", r.name);
            }
            assert_eq!(tested.len(), REGISTERS.len());
        }
    };
}

row_tests! {
    row_calgary_config_0x108_rw_64bit => CalgaryConfig;
    row_tar_0x580_plus_8p_rw_64bit => Tar;
    row_split_queue_0x4870_read_only_idle => SplitQueue;
    row_debug_stuff_0x4020_read_only_bus_range => Stuff;
    row_csr_0x110_write_zero_only => Csr;
    row_plssr_0x120_read_only => Plssr;
    row_phb_config_rw_0x160_rw => PhbConfigRw;
    row_iobase_bar_low_0x170_rw => IobaseBarLow;
    row_iobase_bar_high_0x180_rw => IobaseBarHigh;
    row_mem1_low_0x190_reset_from_config => Mem1Low;
    row_mem1_high_0x1a0_reset_from_config => Mem1High;
    row_io_addr_size_0x1b0_rw => IoAddrSize;
    row_mem1_size_0x1c0_reset_from_config => Mem1Size;
    row_mem_st_0x1d0_rw => MemSt;
    row_aer_0x200_rw => Aer;
    row_config0_high_0x220_rw => Config0High;
    row_config0_low_0x230_rw => Config0Low;
    row_config0_end_0x240_rw => Config0End;
    row_csmr_0x290_read_only_zero => Csmr;
    row_mem2_low_0x2b0_rw => Mem2Low;
    row_mem2_high_0x2c0_rw => Mem2High;
    row_mem2_size_high_0x2d0_rw => Mem2SizeHigh;
    row_mem2_size_low_0x2e0_rw => Mem2SizeLow;
    row_mck_0x800_read_only_zero => Mck;
    row_err_0x810_read_only_zero => Err0;
    row_err_0x820_read_only_zero => Err1;
    row_err_0x830_read_only_zero => Err2;
    row_err_0x840_read_only_zero => Err3;
    row_err_0x850_read_only_zero => Err4;
    row_err_0x860_read_only_zero => Err5;
    row_err_0x870_read_only_zero => Err6;
    row_doshole_0x8e0_rw => Doshole;
    row_root_complex_status_0xcb0_calioc2_read_only => RootComplexStatus;
    row_pmdr_0xda0_calioc2_never_softstopfault => Pmdr;
    row_pmcr_0xda8_calioc2_hardstop_not_writable => Pmcr;
    row_savior_l2_0xdb0_calioc2_rw => SaviorL2;
}

#[test]
fn offsets_match_linux() {
    assert_eq!(regs::tar(3), 0x598);
    assert_eq!(regs::split_queue(2), 0x6870);
    assert_eq!(regs::stuff(1), 0x5020);
    assert_eq!(regs::phb_reg(3, regs::PHB_CSR_OFFSET), 0xB110);
    assert_eq!(regs::phb_reg(0, regs::PHB_PAGE_MIG_CTRL), 0x8DA8);
}

#[test]
fn calioc2_only_registers_are_unlisted_on_calgary() {
    let mut c = calgary();
    for off in [
        regs::PHB_ROOT_COMPLEX_STATUS,
        regs::PHB_PAGE_MIG_DEBUG,
        regs::PHB_PAGE_MIG_CTRL,
        regs::PHB_SAVIOR_L2,
    ] {
        let o = regs::phb_reg(1, off);
        let (v, ev) = c.mmio_read(o, 4);
        assert_eq!(v, 0);
        assert!(guest_err(GuestErrorKind::UnknownOffset, ev));
        assert!(guest_err(
            GuestErrorKind::UnknownOffset,
            c.mmio_write(o, 4, 1)
        ));
    }
}

#[test]
fn unlisted_offsets_read_zero_ignore_writes_and_report() {
    let mut c = calioc2();
    for off in [
        0u64,
        0x100,
        0x5A0,
        0x4024,
        0x8000,
        0x8114,
        0xC000,
        0xF_FFFC,
        0x10_0000,
        u64::MAX - 3,
    ] {
        let (v, ev) = c.mmio_read(off, 4);
        assert_eq!(v, 0, "{off:#x}");
        assert_eq!(
            ev,
            Some(MmioEvent::GuestError {
                offset: off,
                size: 4,
                write: false,
                kind: GuestErrorKind::UnknownOffset
            })
        );
        assert!(guest_err(
            GuestErrorKind::UnknownOffset,
            c.mmio_write(off, 4, 0xFFFF_FFFF)
        ));
    }
    // Misaligned inside a register is a width error.
    assert!(guest_err(
        GuestErrorKind::BadWidth,
        c.mmio_read(regs::phb_reg(0, 0x112), 4).1
    ));
    assert!(guest_err(
        GuestErrorKind::BadWidth,
        c.mmio_read(regs::tar(0) + 4, 8).1
    ));
    assert!(guest_err(
        GuestErrorKind::BadWidth,
        c.mmio_read(regs::tar(0) + 2, 4).1
    ));
}

#[test]
fn tar_write_flushes_phb_cache() {
    let mem = VecMem::new(1 << 22);
    let mut c = calgary();
    let table = 0x10_0000;
    enable(&mut c, 0, table, 0);
    enable(&mut c, 1, table, 0);
    map(&mem, table, 0x200, 0x5000, false);
    assert!(dma(&mut c, 0, 0x20_0000, Direction::Read, &mem).is_ok());
    assert!(dma(&mut c, 1, 0x20_0000, Direction::Read, &mem).is_ok());
    assert_eq!(c.cache_occupancy(0), 1);
    let flushes = c.stats(0).unwrap().flushes;
    let tar = readq(&mut c, regs::tar(0));
    assert_eq!(
        writeq(&mut c, regs::tar(0), tar),
        Some(MmioEvent::CacheFlushed { phb: 0 })
    );
    assert_eq!(c.cache_occupancy(0), 0);
    assert_eq!(c.cache_occupancy(1), 1, "only that PHB's cache");
    assert_eq!(c.stats(0).unwrap().flushes, flushes + 1);
}

#[test]
fn tar_half_write_flushes_phb_cache() {
    let mem = VecMem::new(1 << 22);
    let mut c = calgary();
    enable(&mut c, 2, 0x10_0000, 0);
    map(&mem, 0x10_0000, 0x300, 0x5000, false);
    dma(&mut c, 2, 0x30_0000, Direction::Read, &mem).unwrap();
    let low = readl(&mut c, regs::tar(2) + 4);
    assert_eq!(
        writel(&mut c, regs::tar(2) + 4, low),
        Some(MmioEvent::CacheFlushed { phb: 2 })
    );
    assert_eq!(c.cache_occupancy(2), 0);
}

#[test]
fn tar_reads_back_as_written_for_kdump() {
    let mut c = calgary();
    writeq(&mut c, regs::tar(1), 0xFFFF_0000_0123_8007);
    assert_eq!(readq(&mut c, regs::tar(1)), 0xFFFF_0000_0123_8007);
    assert_eq!(
        readq(&mut c, regs::tar(1)) & regs::TAR_SW_BITS & !7,
        0x0123_8000
    );
}

#[test]
fn csr_write_of_zero_clears_latched_error() {
    let mut c = calgary();
    enable(&mut c, 0, 0x10_0000, 0);
    let f = dma(&mut c, 0, 0x3000_0000, Direction::Write, &NoMem).unwrap_err();
    assert!(f.newly_latched);
    let csr_off = regs::phb_reg(0, regs::PHB_CSR_OFFSET);
    assert_ne!(readl(&mut c, csr_off) & regs::CSR_AGENT_MASK, 0);
    assert_ne!(readl(&mut c, regs::phb_reg(0, regs::PHB_PLSSR_OFFSET)), 0);
    assert_eq!(
        writel(&mut c, csr_off, 0),
        Some(MmioEvent::ErrorCleared { phb: 0 })
    );
    assert_eq!(readl(&mut c, csr_off), 0);
    assert_eq!(readl(&mut c, regs::phb_reg(0, regs::PHB_PLSSR_OFFSET)), 0);
    assert_eq!(c.latched_fault(0), None);
    assert_eq!(
        c.last_fault(0).map(|f| f.reason),
        Some(FaultReason::OutOfRange)
    );
    // The next error latches again.
    assert!(
        dma(&mut c, 0, 0x3000_0000, Direction::Read, &NoMem)
            .unwrap_err()
            .newly_latched
    );
}

#[test]
fn csr_nonzero_write_does_not_clear() {
    let mut c = calgary();
    enable(&mut c, 0, 0x10_0000, 0);
    dma(&mut c, 0, 0x3000_0000, Direction::Write, &NoMem).unwrap_err();
    let csr_off = regs::phb_reg(0, regs::PHB_CSR_OFFSET);
    let before = readl(&mut c, csr_off);
    assert!(guest_err(
        GuestErrorKind::ValueIgnored,
        c.mmio_write(csr_off, 4, 0xFFFF_FFFF)
    ));
    assert_eq!(readl(&mut c, csr_off), before);
}

#[test]
fn phb_config_tce_enable_reports_translation_change() {
    let mut c = calgary();
    let off = regs::phb_reg(3, regs::PHB_CONFIG_RW_OFFSET);
    assert_eq!(
        writel(&mut c, off, regs::PHB_TCE_ENABLE),
        Some(MmioEvent::TranslationEnabled { phb: 3, on: true })
    );
    assert!(c.translation_enabled(3));
    assert_eq!(
        writel(&mut c, off, regs::PHB_TCE_ENABLE | regs::PHB_SLOT_DISABLE),
        Some(MmioEvent::SlotDisabled { phb: 3, on: true })
    );
    assert_eq!(
        writel(&mut c, off, 0),
        Some(MmioEvent::TranslationEnabled { phb: 3, on: false })
    );
    assert_eq!(writel(&mut c, off, regs::PHB_DAC_DISABLE), None);
}

#[test]
fn calioc2_softstop_then_pmcr_read_enters_hardstop() {
    let mut c = calioc2();
    let pmcr = regs::phb_reg(1, regs::PHB_PAGE_MIG_CTRL);
    let pmdr = regs::phb_reg(1, regs::PHB_PAGE_MIG_DEBUG);
    assert_eq!(
        readl(&mut c, pmcr),
        0,
        "a read while running changes nothing"
    );
    assert_eq!(c.stop_state(1), StopState::Running);
    assert_eq!(
        writel(&mut c, pmcr, regs::PMR_SOFTSTOP),
        Some(MmioEvent::StopState {
            phb: 1,
            state: StopState::SoftStop
        })
    );
    assert_eq!(readl(&mut c, pmdr) & regs::PMR_SOFTSTOPFAULT, 0);
    let (v, ev) = c.mmio_read(pmcr, 4);
    assert_eq!(v as u32, regs::PMR_SOFTSTOP | regs::PMR_HARDSTOP);
    assert_eq!(
        ev,
        Some(MmioEvent::StopState {
            phb: 1,
            state: StopState::HardStop
        })
    );
    assert_eq!(c.stop_state(1), StopState::HardStop);
    assert_eq!(c.mmio_read(pmcr, 4).1, None, "second read: already hard");
    assert_eq!(
        writel(&mut c, pmcr, 0),
        Some(MmioEvent::StopState {
            phb: 1,
            state: StopState::Running
        })
    );
    assert_eq!(readl(&mut c, pmcr), 0);
    assert_eq!(c.stop_state(0), StopState::Running, "other PHBs unaffected");
}

#[test]
fn calioc2_softstopfault_never_set_even_with_dma_in_softstop() {
    let mem = VecMem::new(1 << 22);
    let mut c = calioc2();
    enable(&mut c, 0, 0x10_0000, 0);
    map(&mem, 0x10_0000, 0x200, 0x5000, false);
    writel(
        &mut c,
        regs::phb_reg(0, regs::PHB_PAGE_MIG_CTRL),
        regs::PMR_SOFTSTOP,
    );
    assert!(dma(&mut c, 0, 0x20_0000, Direction::Write, &mem).is_ok());
    assert_eq!(readl(&mut c, regs::phb_reg(0, regs::PHB_PAGE_MIG_DEBUG)), 0);
}

#[test]
fn split_queue_idle_seen_by_linux_raw_readq() {
    let mut c = calgary();
    for p in 0..4 {
        // Linux: (readq() & 0xff) == 0xff without be64_to_cpu.
        assert_eq!(readq_raw_x86(&mut c, regs::split_queue(p)) & 0xff, 0xff);
        // The byte at offset 0x4870 itself is bits 63..56 of the BE value.
        assert_eq!(readq(&mut c, regs::split_queue(p)) >> 56, 0xff);
        // A byte-swapping reader sees 0xff too.
        assert_eq!(readq(&mut c, regs::split_queue(p)) & 0xff, 0xff);
    }
}

#[test]
fn calgary_config_is_chip_wide() {
    let mut c = calgary();
    writeq(&mut c, regs::CALGARY_CONFIG, 0xE << 40);
    assert_eq!(c.reg(3, RegId::CalgaryConfig), 0xE << 40);
    assert_eq!(readq(&mut c, regs::CALGARY_CONFIG), 0xE << 40);
}

#[test]
fn reset_restores_reset_values() {
    let mut c = calioc2();
    writeq(&mut c, regs::tar(0), 0x10_0007);
    writel(
        &mut c,
        regs::phb_reg(0, regs::PHB_CONFIG_RW_OFFSET),
        regs::PHB_TCE_ENABLE,
    );
    writel(&mut c, regs::phb_reg(0, regs::PHB_MEM_1_LOW), 0);
    writel(
        &mut c,
        regs::phb_reg(0, regs::PHB_PAGE_MIG_CTRL),
        regs::PMR_SOFTSTOP,
    );
    dma(&mut c, 0, 0x1_0000_0000, Direction::Read, &NoMem).unwrap_err();
    c.reset();
    let fresh = calioc2();
    for r in REGISTERS.iter() {
        for p in 0..4 {
            assert_eq!(c.reg(p, r.id), fresh.reg(p, r.id), "{} phb {p}", r.name);
        }
    }
    assert_eq!(c.phb_csr(0), 0);
    assert_eq!(c.last_fault(0), None);
    assert!(!c.translation_enabled(0));
    assert_eq!(
        c.stats(0).unwrap().blocked_total(),
        1,
        "statistics survive reset"
    );
}

#[test]
fn mmio_event_and_fault_display_are_one_line() {
    let ev = MmioEvent::GuestError {
        offset: 0x10,
        size: 2,
        write: true,
        kind: GuestErrorKind::BadWidth,
    };
    let s = ev.to_string();
    assert!(s.contains("0x10") && !s.contains('\n'), "{s}");
    let f = Fault {
        phb: 1,
        io_addr: 0x1234,
        dir: Direction::Write,
        requester: Requester {
            bus: 0x20,
            devfn: 0x09,
        },
        reason: FaultReason::ReadOnly,
        newly_latched: true,
    };
    assert_eq!(
        f.to_string(),
        "DMA write blocked on PHB 1: device 20:01.1 io address 0x1234: write to read-only TCE"
    );
}

#[test]
fn config_errors_name_the_property() {
    let mut cfg = cfg(Variant::Calgary, CachePolicy::Faithful);
    cfg.cache.entries = 48;
    assert!(Chip::new(cfg)
        .unwrap_err()
        .to_string()
        .contains("power of two"));
    cfg.cache.entries = 64;
    cfg.cache.ways = 3;
    assert!(Chip::new(cfg).unwrap_err().to_string().contains("ways"));
    cfg.cache.ways = 128;
    assert!(matches!(
        Chip::new(cfg),
        Err(ConfigError::CacheWaysOutOfRange(128))
    ));
    cfg.cache.ways = 4;
    cfg.cache.entries = 1 << 20;
    assert!(matches!(
        Chip::new(cfg),
        Err(ConfigError::CacheEntriesTooLarge(_))
    ));
    cfg.cache = CacheConfig {
        policy: CachePolicy::Off,
        entries: 0,
        ways: 0,
    };
    assert!(Chip::new(cfg).is_ok(), "Off ignores geometry");
    cfg.bbar = 0xfef0_1000;
    assert!(Chip::new(cfg).unwrap_err().to_string().contains("bbar"));
    cfg.bbar = BBAR;
    cfg.phbs[2].mem1_limit = 0x1_0000_0000;
    assert!(Chip::new(cfg)
        .unwrap_err()
        .to_string()
        .contains("mem1_limit"));
    cfg.phbs[2].mem1_limit = 0xFFFF_FFFF;
    cfg.phbs[2].first_bus = 5;
    cfg.phbs[2].last_bus = 4;
    assert!(Chip::new(cfg).unwrap_err().to_string().contains("last_bus"));
}

#[test]
fn stuff_buses_single_bus_both_encodings() {
    // last = first (what the machine reports) and the older end-0 form.
    for v in [0x0024_2400u32, 0x0024_0000] {
        assert_eq!(regs::stuff_buses(v), 0x24..=0x24, "{v:#010x}");
    }
    // Bus 0 behind a PHB: 0x00000000 is bus 0 alone.
    assert_eq!(regs::stuff_buses(0), 0..=0);
}

#[test]
fn stuff_buses_range_and_inverse_of_stuff_value() {
    assert_eq!(regs::stuff_buses(0x0028_2a00), 0x28..=0x2a);
    // End below start: no bus (as 2.6.20's walk reads it).
    assert!(regs::stuff_buses(0x0030_2000).is_empty());
    // Low byte and top byte are not part of the range.
    assert_eq!(regs::stuff_buses(0xff24_24ff), 0x24..=0x24);
    for (first, last) in [(0x20u8, 0x20u8), (0x24, 0), (0x28, 0x2b), (0, 0)] {
        let cfg = PhbConfig {
            first_bus: first,
            last_bus: last,
            mem1_start: 0,
            mem1_limit: 0,
        };
        let want = if last == 0 {
            first..=first
        } else {
            first..=last
        };
        assert_eq!(regs::stuff_buses(cfg.stuff_value()), want);
    }
}
