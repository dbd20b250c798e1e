//! Each era replayed end to end on both variants and three RAM sizes, and
//! the era-specific details (legacy BBAR formula, bus-1 quirk, STUFF range).

use super::*;

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
