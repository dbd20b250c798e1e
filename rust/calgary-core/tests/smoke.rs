//! First end-to-end checks the FFI relies on.
#![allow(clippy::unwrap_used, clippy::indexing_slicing, clippy::panic)]
mod common;
use calgary_core::*;
use common::*;

#[test]
fn s2_stuff_reports_bus_range_for_every_phb() {
    let mut cfg = cfg(Variant::Calgary, CachePolicy::Off);
    cfg.phbs[1].first_bus = 0x20;
    cfg.phbs[1].last_bus = 0x23;
    cfg.phbs[3].last_bus = 0; // "single bus" in the configuration
    let mut c = Chip::new(cfg).unwrap();
    // A single-bus PHB reports last = first.
    assert_eq!(readl(&mut c, regs::stuff(0)), 0x0010_1000);
    assert_eq!(readl(&mut c, regs::stuff(1)), 0x0020_2300);
    assert_eq!(readl(&mut c, regs::stuff(2)), 0x0030_3000);
    assert_eq!(readl(&mut c, regs::stuff(3)), 0x0040_4000);
}

/// `calgary_locate_bbars` of Linux 2.6.20-2.6.22: every bus of
/// `start..=end` gets the PHB; nothing else.
fn buses_2_6_20(stuff: u32) -> Vec<u8> {
    let start = ((stuff & 0x00FF_0000) >> 16) as u8;
    let end = ((stuff & 0x0000_FF00) >> 8) as u8;
    (start..=end).collect()
}

/// The same in 2.6.23 and later: an end byte of 0 means "start only".
fn buses_2_6_23(stuff: u32) -> Vec<u8> {
    let start = ((stuff & 0x00FF_0000) >> 16) as u8;
    let end = ((stuff & 0x0000_FF00) >> 8) as u8;
    if end != 0 {
        (start..=end).collect()
    } else {
        vec![start]
    }
}

#[test]
fn s2_stuff_maps_every_phb_bus_in_every_kernel_era() {
    // Single-bus PHBs (including bus 0, as when bus 0 sits behind PHB 0)
    // and a multi-bus PHB: both readings of STUFF give each PHB its buses.
    let mut cfg = cfg(Variant::Calgary, CachePolicy::Off);
    cfg.phbs[0].first_bus = 0;
    cfg.phbs[0].last_bus = 0;
    cfg.phbs[1].first_bus = 0x24;
    cfg.phbs[1].last_bus = 0x24;
    cfg.phbs[2].first_bus = 0x28;
    cfg.phbs[2].last_bus = 0x2A;
    cfg.phbs[3].first_bus = 0x7F;
    cfg.phbs[3].last_bus = 0;
    let mut c = Chip::new(cfg).unwrap();
    let want: [&[u8]; 4] = [&[0], &[0x24], &[0x28, 0x29, 0x2A], &[0x7F]];
    for (p, buses) in want.iter().enumerate() {
        let v = readl(&mut c, regs::stuff(p));
        assert_eq!(buses_2_6_20(v), *buses, "PHB {p}: STUFF {v:#010x} (2.6.20)");
        assert_eq!(buses_2_6_23(v), *buses, "PHB {p}: STUFF {v:#010x} (2.6.23)");
    }
}

#[test]
fn s2_old_single_bus_encoding_leaves_2_6_20_without_the_phb() {
    // What the model reported before: end byte 0 for a single bus.  The
    // 2.6.20 walk maps no bus at all, so the kernel's first register read
    // of that PHB goes through a NULL BBAR.
    assert_eq!(buses_2_6_20(0x0024_0000), Vec::<u8>::new());
    assert_eq!(buses_2_6_23(0x0024_0000), vec![0x24]);
    let mut c = Chip::new(cfg(Variant::Calgary, CachePolicy::Off)).unwrap();
    assert_ne!(
        buses_2_6_20(readl(&mut c, regs::stuff(0))),
        Vec::<u8>::new()
    );
}

#[test]
fn device_ids() {
    assert_eq!(Variant::Calgary.device_id(), 0x02a1);
    assert_eq!(Variant::CalIoc2.device_id(), 0x0308);
}
