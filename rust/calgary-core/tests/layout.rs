//! §1, §2 and linux-driver-history.md: where the platform puts the chips,
//! checked against what each kernel era computes from it.
#![allow(clippy::unwrap_used, clippy::indexing_slicing, clippy::panic)]

use calgary_core::layout::{
    firmware_bar_floor, linux_2_6_18_bbar, linux_2_6_19_bbar, linux_legacy_phb_ids, BarKind,
    Layout, LayoutError, PciBar, Platform, FIRMWARE_PCI_MEM_END, RIO_BBARS,
};
use calgary_core::rio::{self, RioChip};
use calgary_core::{
    CacheConfig, Chip, ChipConfig, PhbConfig, Variant, CHIP_WINDOW_SIZE, MAX_CHIPS, PHBS_PER_CHIP,
};

/// `locate_register_space` of 2.6.18 (N = 15) and 2.6.19 (N = 14), written
/// out the way the kernel comment states it: FE0MB - 8MB * one-based chassis
/// + 1MB * RIO node id (2 for the first Calgary of a chassis, 3 for the
///   second), chassis = bus / N, node = bus % N > 4 ? 3 : 2.
fn kernel_formula(bus: u8, n: i64) -> u32 {
    let bus = i64::from(bus);
    let node = if bus % n > 4 { 3 } else { 2 };
    let addr = 0xFE0 * (1 << 20) - 8 * (1 << 20) * (1 + bus / n) + (1 << 20) * node;
    u32::try_from(addr).unwrap()
}

#[test]
fn legacy_formulas_match_the_kernel_text_for_every_scanned_bus() {
    for bus in 0..=127u8 {
        assert_eq!(
            linux_2_6_18_bbar(bus),
            kernel_formula(bus, 15),
            "2.6.18 bus {bus}"
        );
        assert_eq!(
            linux_2_6_19_bbar(bus),
            kernel_formula(bus, 14),
            "2.6.19 bus {bus}"
        );
    }
}

#[test]
fn legacy_formulas_known_values() {
    for bus in 0..=4 {
        assert_eq!(linux_2_6_18_bbar(bus), 0xfda0_0000);
        assert_eq!(linux_2_6_19_bbar(bus), 0xfda0_0000);
    }
    assert_eq!(linux_2_6_18_bbar(5), 0xfdb0_0000);
    // The two kernels disagree on bus 14 (2.6.18: chassis 1 node 3;
    // 2.6.19: chassis 2 node 2): the legacy layout must avoid such buses.
    assert_eq!(linux_2_6_18_bbar(14), 0xfdb0_0000);
    assert_eq!(linux_2_6_19_bbar(14), 0xfd20_0000);
    assert_eq!(linux_2_6_18_bbar(15), 0xfd20_0000);
    assert_eq!(linux_2_6_18_bbar(20), 0xfd30_0000);
}

#[test]
fn legacy_ordinal_is_bus_order_mod_4() {
    assert_eq!(
        linux_legacy_phb_ids(&[5, 1, 2, 3, 4]),
        vec![(1, 0), (2, 1), (3, 2), (4, 3), (5, 0)]
    );
    assert_eq!(
        linux_legacy_phb_ids(&[200, 3]),
        vec![(3, 0)],
        "only 0..127 scanned"
    );
}

fn platforms() -> Vec<Platform> {
    let mut v = Vec::new();
    for layout in [Layout::Rio, Layout::Legacy] {
        for bus0 in [false, true] {
            for chips in 1..=MAX_CHIPS {
                v.push(Platform::new(layout, bus0, chips).unwrap());
            }
        }
    }
    v
}

fn all_phbs(p: &Platform) -> Vec<(usize, usize, u8)> {
    (0..p.chips())
        .flat_map(|c| (0..PHBS_PER_CHIP).map(move |q| (c, q)))
        .map(|(c, q)| (c, q, p.phb_bus(c, q).unwrap()))
        .collect()
}

/// 2.6.18/2.6.19 on a legacy platform: every PHB function at devfn 0 is
/// found, gets the right PHB index, and both formulas land on its chip.
#[test]
fn legacy_layout_is_what_2_6_18_and_2_6_19_compute() {
    for p in platforms()
        .into_iter()
        .filter(|p| p.layout() == Layout::Legacy)
    {
        let phbs = all_phbs(&p);
        let buses: Vec<u8> = phbs.iter().map(|x| x.2).collect();
        let ids = linux_legacy_phb_ids(&buses);
        assert_eq!(ids.len(), phbs.len(), "{p:?}: every PHB bus below 128");
        for (bus, id) in ids {
            let &(chip, phb, _) = phbs.iter().find(|x| x.2 == bus).unwrap();
            assert_eq!(id, phb, "{p:?} bus {bus}: kernel PHB index");
            let bbar = p.bbar(chip).unwrap();
            assert_eq!(
                linux_2_6_18_bbar(bus),
                bbar,
                "{p:?} bus {bus}: 2.6.18 window"
            );
            assert_eq!(
                linux_2_6_19_bbar(bus),
                bbar,
                "{p:?} bus {bus}: 2.6.19 window"
            );
        }
    }
}

#[test]
fn rio_layout_buses_and_bbars() {
    let p = Platform::new(Layout::Rio, false, 4).unwrap();
    for (c, &bbar) in RIO_BBARS.iter().enumerate() {
        assert_eq!(p.bbar(c), Some(bbar));
        for q in 0..4 {
            assert_eq!(p.phb_bus(c, q), Some(0x20 + 4 * (4 * c + q) as u8));
        }
    }
    let b = Platform::new(Layout::Rio, true, 2).unwrap();
    assert_eq!(b.phb_bus(0, 0), Some(0), "bus 0 is chip 0 PHB 0");
    assert_eq!(b.phb_bus(0, 1), Some(0x24), "the other PHBs stay");
    assert_eq!(b.phb_bus(1, 0), Some(0x30));
    assert_eq!(b.phb_of_bus(0), Some((0, 0)));
    assert_eq!(b.phb_of_bus(0x20), None, "no PHB on the old bus 0x20");
    assert_eq!(b.phb_bus(2, 0), None);
    assert_eq!(b.bbar(2), None);
}

#[test]
fn legacy_layout_buses() {
    let p = Platform::new(Layout::Legacy, false, 2).unwrap();
    assert_eq!(
        (0..4).map(|q| p.phb_bus(0, q).unwrap()).collect::<Vec<_>>(),
        [1, 2, 3, 4]
    );
    assert_eq!(p.bbar(0), Some(0xfda0_0000));
    assert_eq!(p.bbar(1), Some(0xfdb0_0000));
    let b = Platform::new(Layout::Legacy, true, 1).unwrap();
    assert_eq!(
        (0..4).map(|q| b.phb_bus(0, q).unwrap()).collect::<Vec<_>>(),
        [0, 1, 2, 3]
    );
    assert_eq!(b.bbar(0), Some(0xfda0_0000));
}

#[test]
fn every_platform_has_distinct_buses_and_clean_windows() {
    for p in platforms() {
        let phbs = all_phbs(&p);
        let mut buses: Vec<u8> = phbs.iter().map(|x| x.2).collect();
        buses.sort_unstable();
        buses.dedup();
        assert_eq!(buses.len(), phbs.len(), "{p:?}: distinct PHB buses");
        assert!(buses.iter().all(|&b| b < 0x80), "{p:?}: buses below 0x80");
        assert_eq!(
            buses.contains(&0),
            p.bus0_phb(),
            "{p:?}: bus 0 only with bus0_phb"
        );
        if p.layout() == Layout::Rio {
            assert!(
                buses.iter().all(|&b| b == 0 || b >= 0x20),
                "{p:?}: 1..0x1f free for bridges"
            );
        }
        let w: Vec<(u64, u64)> = p.windows().collect();
        assert_eq!(w.len(), p.chips());
        for (i, &(s, e)) in w.iter().enumerate() {
            assert_eq!(s % CHIP_WINDOW_SIZE, 0);
            assert_eq!(e - s, CHIP_WINDOW_SIZE);
            // above any below-4G RAM of the i440FX PC, below 4 GiB
            assert!(s >= 0xe000_0000 && e <= 1 << 32, "{p:?}: window {s:#x}");
            // clear of IOAPIC, HPET, LAPIC/MSI and the 256 KiB BIOS
            for (a, b) in [
                (0xfec0_0000u64, 0xfec0_1000u64),
                (0xfed0_0000, 0xfed0_0400),
                (0xfee0_0000, 0xfef0_0000),
                (0xfffc_0000, 1 << 32),
            ] {
                assert!(e <= a || s >= b, "{p:?}: window {s:#x} overlaps {a:#x}");
            }
            for &(s2, e2) in &w[i + 1..] {
                assert!(e <= s2 || e2 <= s, "{p:?}: windows overlap");
            }
        }
    }
}

/// §2 with either layout: the Rio table names the windows; each window's
/// STUFF registers name the PHB buses as Linux 2.6.23+ decode them, so
/// 2.6.20+ find the same buses (and, for the bus-0 PHB, 2.6.20-2.6.22's
/// start..=end walk too).
#[test]
fn rio_table_and_stuff_describe_the_platform() {
    for p in platforms() {
        let chips: Vec<RioChip> = (0..p.chips())
            .map(|c| RioChip {
                bbar: p.bbar(c).unwrap(),
                variant: Variant::Calgary,
                chassis: 0,
                node: 0,
            })
            .collect();
        let table = rio::build(&chips).unwrap();
        let mut mem = vec![0u8; 0xa0000];
        rio::place(&mut mem, 0x9fc0, &table).unwrap();
        let parsed = rio::parse(&mem).unwrap();
        let bbars = parsed.calgary_bbars();
        assert_eq!(bbars.len(), p.chips());
        for (c, &bbar) in bbars.iter().enumerate() {
            assert_eq!(bbar, p.bbar(c).unwrap());
            let mut phbs = [PhbConfig {
                first_bus: 0,
                last_bus: 0,
                mem1_start: 0xe000_0000,
                mem1_limit: 0xffff_ffff,
            }; 4];
            for (q, cfg) in phbs.iter_mut().enumerate() {
                cfg.first_bus = p.phb_bus(c, q).unwrap();
                cfg.last_bus = cfg.first_bus;
            }
            let mut chip = Chip::new(ChipConfig {
                variant: Variant::Calgary,
                bbar,
                chassis: 0,
                phbs,
                cache: CacheConfig::default(),
            })
            .unwrap();
            for q in 0..4 {
                let (stuff, ev) = chip.mmio_read(0x4020 + 0x1000 * q as u64, 4);
                assert_eq!(ev, None, "STUFF reads cleanly");
                let stuff = stuff as u32;
                let start = ((stuff >> 16) & 0xff) as u8;
                let end = ((stuff >> 8) & 0xff) as u8;
                // 2.6.23+: `if (end) start..=end else start`
                let buses: Vec<u8> = if end != 0 {
                    (start..=end).collect()
                } else {
                    vec![start]
                };
                assert_eq!(
                    buses,
                    vec![p.phb_bus(c, q).unwrap()],
                    "{p:?} chip {c} PHB {q}"
                );
                if start == 0 {
                    let walk: Vec<u8> = (start..=end).collect();
                    assert_eq!(walk, vec![0], "2.6.20-2.6.22 walk of the bus-0 PHB");
                }
            }
        }
    }
}

#[test]
fn bad_combinations_are_rejected_with_the_property_named() {
    assert_eq!(
        Platform::new(Layout::Rio, true, 0),
        Err(LayoutError::Bus0PhbWithoutChip)
    );
    assert!(Platform::new(Layout::Legacy, false, 0).is_ok());
    assert_eq!(
        Platform::new(Layout::Rio, false, 5),
        Err(LayoutError::TooManyChips(5))
    );
    let msg = LayoutError::Bus0PhbWithoutChip.to_string();
    assert!(msg.contains("bus0-phb") && msg.contains("chips"), "{msg}");
    assert!(!msg.contains('\n'));
    assert_eq!(Layout::from_name("legacy"), Some(Layout::Legacy));
    assert_eq!(Layout::from_name("rio"), Some(Layout::Rio));
    assert_eq!(Layout::from_name("x366"), None);
    assert!(Platform::new(Layout::Rio, false, 1)
        .unwrap()
        .allows_bridges());
    assert!(!Platform::new(Layout::Legacy, false, 1)
        .unwrap()
        .allows_bridges());
}

fn bar(size: u64, kind: BarKind) -> PciBar {
    PciBar { size, kind }
}

/// QEMU's std VGA: 16 MiB prefetchable framebuffer, 4 KiB MMIO, 64 KiB ROM.
fn std_vga() -> Vec<PciBar> {
    vec![
        bar(16 << 20, BarKind::Prefetch),
        bar(0x1000, BarKind::Mem),
        bar(0x10000, BarKind::Rom),
    ]
}

#[test]
fn firmware_floor_replays_seabios_top_down_packing() {
    assert_eq!(firmware_bar_floor(&[]), FIRMWARE_PCI_MEM_END);
    assert_eq!(
        firmware_bar_floor(&[bar(0x100, BarKind::Io), bar(0, BarKind::Mem)]),
        FIRMWARE_PCI_MEM_END
    );
    // A lone small BAR is rounded up to a page, right below the IOAPIC.
    assert_eq!(firmware_bar_floor(&[bar(0x100, BarKind::Mem)]), 0xfebf_f000);
    // The std VGA: MEM (ROM 64K + MMIO 4K) on top from 0xfebe0000 (ROM
    // there, MMIO at 0xfebf0000, as every i440FX guest sees it), the
    // framebuffer below at 0xfd000000.
    assert_eq!(firmware_bar_floor(&std_vga()), 0xfd00_0000);
    // edu's 1 MiB BAR and two small ones: 0xfec00000 - 1 MiB - 8 KiB,
    // aligned down to 1 MiB.
    assert_eq!(
        firmware_bar_floor(&[
            bar(1 << 20, BarKind::Mem),
            bar(0x1000, BarKind::Mem),
            bar(0x4000, BarKind::Prefetch)
        ]),
        0xfea0_0000
    );
}

#[test]
fn firmware_bars_must_stay_off_legacy_windows() {
    let legacy = Platform::new(Layout::Legacy, true, 1).unwrap();
    let rio = Platform::new(Layout::Rio, true, 4).unwrap();
    // Rio windows are above the firmware's range: anything goes.
    assert_eq!(rio.check_firmware_bars(&std_vga()), Ok(()));
    // The std VGA framebuffer lands on 0xfd000000..0xfdffffff, over 0xfda00000.
    match legacy.check_firmware_bars(&std_vga()) {
        Err(e @ LayoutError::BarsReachWindow { floor, bbar, .. }) => {
            assert_eq!((floor, bbar), (0xfd00_0000, 0xfda0_0000));
            let msg = e.to_string();
            assert!(
                msg.contains("layout=legacy") && msg.contains("0xfda00000"),
                "{msg}"
            );
        }
        other => panic!("std VGA over the legacy window accepted: {other:?}"),
    }
    // The guest runner's devices (edu, e1000 + ROM, virtio-net + ROM, nvme)
    // without a VGA leave the window alone.
    let runner = [
        bar(1 << 20, BarKind::Mem),
        bar(0x20000, BarKind::Mem),
        bar(0x40000, BarKind::Rom),
        bar(0x1000, BarKind::Mem),
        bar(0x4000, BarKind::Prefetch),
        bar(0x40000, BarKind::Rom),
        bar(0x4000, BarKind::Mem),
    ];
    assert_eq!(legacy.check_firmware_bars(&runner), Ok(()));
    // Exactly up to the window's end is fine, one page more is not: four
    // 4 MiB BARs fill 0xfdc00000..0xfec00000 above chip 1's window.
    let two = Platform::new(Layout::Legacy, false, 2).unwrap(); // top window 0xfdb00000
    let fits = vec![bar(4 << 20, BarKind::Mem); 4];
    assert_eq!(firmware_bar_floor(&fits), 0xfdc0_0000);
    assert_eq!(two.check_firmware_bars(&fits), Ok(()));
    let mut more = fits.clone();
    more.push(bar(0x1000, BarKind::Prefetch));
    assert_eq!(firmware_bar_floor(&more), 0xfd80_0000);
    assert!(two.check_firmware_bars(&more).is_err());
    // Alignment counts: one 16 MiB BAR needs 16 MiB alignment, 0xfd000000.
    assert!(two
        .check_firmware_bars(&[bar(16 << 20, BarKind::Mem)])
        .is_err());
}

#[test]
fn rio_phb_bus_is_0x20_plus_4_per_phb_and_what_the_platform_uses() {
    assert_eq!(calgary_core::layout::rio_phb_bus(0, 0), Some(0x20));
    assert_eq!(calgary_core::layout::rio_phb_bus(0, 3), Some(0x2c));
    assert_eq!(calgary_core::layout::rio_phb_bus(1, 0), Some(0x30));
    assert_eq!(calgary_core::layout::rio_phb_bus(3, 3), Some(0x5c));
    assert_eq!(calgary_core::layout::rio_phb_bus(4, 0), None);
    assert_eq!(calgary_core::layout::rio_phb_bus(0, 4), None);
    let plat =
        calgary_core::layout::Platform::new(calgary_core::layout::Layout::Rio, false, MAX_CHIPS)
            .unwrap();
    for c in 0..MAX_CHIPS {
        for p in 0..PHBS_PER_CHIP {
            assert_eq!(plat.phb_bus(c, p), calgary_core::layout::rio_phb_bus(c, p));
        }
    }
}
