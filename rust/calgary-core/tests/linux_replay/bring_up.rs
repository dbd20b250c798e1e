//! Detection, TAR programming, the per-variant quirks, enabling
//! translation, mapping DMA, and the TCE cache flush sequences.

use super::*;

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
