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
    let mut c = Chip::new(cfg).unwrap();
    assert_eq!(readl(&mut c, regs::stuff(0)), 0x0010_0000);
    assert_eq!(readl(&mut c, regs::stuff(1)), 0x0020_2300);
    assert_eq!(readl(&mut c, regs::stuff(2)), 0x0030_0000);
    assert_eq!(readl(&mut c, regs::stuff(3)), 0x0040_0000);
}

#[test]
fn device_ids() {
    assert_eq!(Variant::Calgary.device_id(), 0x02a1);
    assert_eq!(Variant::CalIoc2.device_id(), 0x0308);
}
