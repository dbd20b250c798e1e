//! Snapshot: save/restore of all guest-visible state, validated restore.
#![allow(clippy::unwrap_used, clippy::indexing_slicing, clippy::panic)]
mod common;

use calgary_core::regs::{self, REGISTERS};
use calgary_core::*;
use common::*;
use proptest::prelude::*;

const TABLE: u64 = 0x10_0000;

/// A chip with every kind of state: registers, latched error, stale
/// Faithful cache entries, CalIOC2 HardStop.
fn busy_chip() -> (Chip, VecMem) {
    let mem = VecMem::new(1 << 22);
    let mut c = calioc2();
    enable(&mut c, 0, TABLE, 2);
    enable(&mut c, 2, TABLE, 0);
    for i in 0..10 {
        map(&mem, TABLE, 0x200 + i, 0x4000 + (i << 12), i % 2 == 0);
        dma(&mut c, 0, (0x200 + i) << 12, Direction::Read, &mem).unwrap();
    }
    unmap(&mem, TABLE, 0x201);
    dma(&mut c, 2, 0x7000_0000, Direction::Write, &mem).unwrap_err();
    writel(
        &mut c,
        regs::phb_reg(1, regs::PHB_PAGE_MIG_CTRL),
        regs::PMR_SOFTSTOP,
    );
    readl(&mut c, regs::phb_reg(1, regs::PHB_PAGE_MIG_CTRL));
    writel(&mut c, regs::phb_reg(3, regs::PHB_AER_OFFSET), 0xABCD);
    writeq(&mut c, regs::CALGARY_CONFIG, 0xE << 28);
    (c, mem)
}

#[test]
fn snapshot_round_trip_restores_every_register_latch_and_cache() {
    let (c, mem) = busy_chip();
    let bytes = c.save();
    let mut d = calioc2();
    d.restore(&bytes).unwrap();
    for r in REGISTERS.iter() {
        for p in 0..4 {
            assert_eq!(d.reg(p, r.id), c.reg(p, r.id), "{} phb {p}", r.name);
        }
    }
    assert_eq!(d.phb_csr(2), c.phb_csr(2));
    assert_ne!(d.phb_csr(2), 0);
    assert_eq!(d.latched_fault(2), c.latched_fault(2));
    assert_eq!(d.last_fault(2), c.last_fault(2));
    assert_eq!(d.stop_state(1), StopState::HardStop);
    assert_eq!(d.cache_occupancy(0), 10);
    for p in 0..4 {
        assert_eq!(d.stats(p), c.stats(p));
    }
    // The stale (freed, unflushed) entry survives migration in Faithful.
    assert_eq!(
        dma(&mut d, 0, 0x201 << 12, Direction::Read, &mem)
            .unwrap()
            .phys,
        0x5000
    );
    assert_eq!(d.save(), {
        let mut e = calioc2();
        e.restore(&bytes).unwrap();
        let _ = dma(&mut e, 0, 0x201 << 12, Direction::Read, &mem);
        e.save()
    });
    // Second error does not latch on the restored chip either.
    assert!(
        !dma(&mut d, 2, 0x7000_0000, Direction::Read, &mem)
            .unwrap_err()
            .newly_latched
    );
}

#[test]
fn snapshot_save_is_deterministic_and_idempotent() {
    let (c, _) = busy_chip();
    let a = c.save();
    let mut d = calioc2();
    d.restore(&a).unwrap();
    assert_eq!(d.save(), a);
}

#[test]
fn snapshot_rejects_truncation_at_every_length() {
    let (c, _) = busy_chip();
    let bytes = c.save();
    let mut d = calioc2();
    let before = d.save();
    for n in 0..bytes.len() {
        assert!(d.restore(&bytes[..n]).is_err(), "prefix {n}");
    }
    assert_eq!(d.save(), before, "failed restores change nothing");
    let mut long = bytes.clone();
    long.push(0);
    assert_eq!(d.restore(&long), Err(SnapshotError::TrailingBytes));
}

#[test]
fn snapshot_rejects_wrong_magic_version_variant_and_cache() {
    let (c, _) = busy_chip();
    let bytes = c.save();
    let mut d = calioc2();
    let mut b = bytes.clone();
    b[0] ^= 1;
    assert_eq!(d.restore(&b), Err(SnapshotError::BadMagic));
    let mut b = bytes.clone();
    b[8] = 9;
    assert_eq!(d.restore(&b), Err(SnapshotError::UnsupportedVersion(9)));
    assert_eq!(
        calgary().restore(&bytes),
        Err(SnapshotError::VariantMismatch)
    );
    let mut e = chip(Variant::CalIoc2, CachePolicy::Coherent);
    assert_eq!(e.restore(&bytes), Err(SnapshotError::CacheConfigMismatch));
    assert!(SnapshotError::CacheConfigMismatch
        .to_string()
        .contains("cache"));
}

#[test]
fn snapshot_rejects_inconsistent_csr() {
    let c = calgary();
    let mut bytes = c.save();
    // CSR of PHB 0 is register index 4; header is 8+2+1+1+4+4 = 20, then u16 count.
    let at = 20 + 2 + 8 * regs::RegId::Csr.index();
    bytes[at] = 1;
    assert_eq!(
        calgary().restore(&bytes),
        Err(SnapshotError::InvalidField("CSR set without latched fault"))
    );
}

#[test]
fn snapshot_stuff_comes_from_config_not_bytes() {
    let c = calgary();
    let bytes = c.save();
    let mut cfg = cfg(Variant::Calgary, CachePolicy::Faithful);
    cfg.phbs[0].first_bus = 0x77;
    cfg.phbs[0].last_bus = 0x77;
    let mut d = Chip::new(cfg).unwrap();
    d.restore(&bytes).unwrap();
    assert_eq!(readl(&mut d, regs::stuff(0)), 0x0077_7700);
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(64))]
    #[test]
    fn snapshot_restore_of_mangled_bytes_never_panics(flips in proptest::collection::vec((any::<usize>(), any::<u8>()), 1..8)) {
        let (c, _) = busy_chip();
        let mut bytes = c.save();
        for (i, x) in flips {
            let n = bytes.len();
            bytes[i % n] ^= x;
        }
        let mut d = calioc2();
        let before = d.save();
        match d.restore(&bytes) {
            Ok(()) => {
                let again = d.save();
                let mut e = calioc2();
                prop_assert_eq!(e.restore(&again), Ok(()));
            }
            Err(_) => prop_assert_eq!(d.save(), before),
        }
    }
}
