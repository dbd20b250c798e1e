//! §5: the TCE cache contract and the three policies.
#![allow(clippy::unwrap_used, clippy::indexing_slicing, clippy::panic)]
mod common;

use calgary_core::regs;
use calgary_core::*;
use common::*;

const TABLE: u64 = 0x10_0000;
const POLICIES: [CachePolicy; 3] = [
    CachePolicy::Off,
    CachePolicy::Coherent,
    CachePolicy::Faithful,
];

fn setup_geo(policy: CachePolicy, entries: u32, ways: u32) -> (Chip, VecMem) {
    let mut cfg = cfg(Variant::Calgary, policy);
    cfg.cache.entries = entries;
    cfg.cache.ways = ways;
    let mut c = Chip::new(cfg).unwrap();
    enable(&mut c, 0, TABLE, 0);
    (c, VecMem::new(1 << 22))
}

fn setup(policy: CachePolicy) -> (Chip, VecMem) {
    setup_geo(policy, 64, 4)
}

fn flush(c: &mut Chip, p: usize) {
    let tar = readq(c, regs::tar(p));
    writeq(c, regs::tar(p), tar);
}

#[test]
fn s5_new_tce_visible_without_flush() {
    for policy in POLICIES {
        let (mut c, mem) = setup(policy);
        // Fetched while invalid...
        assert!(dma(&mut c, 0, 0x20_0000, Direction::Read, &mem).is_err());
        // ...then mapped, with no flush: must translate.
        map(&mem, TABLE, 0x200, 0x5000, false);
        assert_eq!(
            dma(&mut c, 0, 0x20_0000, Direction::Read, &mem)
                .unwrap()
                .phys,
            0x5000,
            "{policy}"
        );
    }
}

#[test]
fn s5_fetched_invalid_tce_is_never_cached() {
    for policy in [CachePolicy::Coherent, CachePolicy::Faithful] {
        let (mut c, mem) = setup(policy);
        for i in 0..16u64 {
            let _ = dma(&mut c, 0, (0x200 + i) << 12, Direction::Write, &mem);
        }
        assert_eq!(c.cache_occupancy(0), 0, "{policy}");
    }
}

#[test]
fn s5_freed_tce_keeps_translating_until_flush_in_faithful() {
    let (mut c, mem) = setup(CachePolicy::Faithful);
    map(&mem, TABLE, 0x200, 0x5000, false);
    assert!(dma(&mut c, 0, 0x20_0000, Direction::Write, &mem).is_ok());
    unmap(&mem, TABLE, 0x200);
    let t = dma(&mut c, 0, 0x20_0000, Direction::Write, &mem).unwrap();
    assert_eq!(t.phys, 0x5000, "stale entry still translates");
    assert_eq!(c.stats(0).unwrap().cache_hits, 1);
    flush(&mut c, 0);
    assert_eq!(
        dma(&mut c, 0, 0x20_0000, Direction::Write, &mem)
            .unwrap_err()
            .reason,
        FaultReason::NotValid
    );
}

#[test]
fn s5_freed_tce_faults_at_once_when_cache_off() {
    let (mut c, mem) = setup(CachePolicy::Off);
    map(&mem, TABLE, 0x200, 0x5000, false);
    assert!(dma(&mut c, 0, 0x20_0000, Direction::Write, &mem).is_ok());
    unmap(&mem, TABLE, 0x200);
    assert_eq!(
        dma(&mut c, 0, 0x20_0000, Direction::Write, &mem)
            .unwrap_err()
            .reason,
        FaultReason::NotValid
    );
    let s = c.stats(0).unwrap();
    assert_eq!((s.cache_hits, s.cache_misses, s.tce_fetches), (0, 0, 2));
}

#[test]
fn s5_coherent_uses_memory_and_counts_stale_hit() {
    let (mut c, mem) = setup(CachePolicy::Coherent);
    map(&mem, TABLE, 0x200, 0x5000, false);
    dma(&mut c, 0, 0x20_0000, Direction::Write, &mem).unwrap();
    // Same value: a plain hit, re-validated.
    dma(&mut c, 0, 0x20_0000, Direction::Write, &mem).unwrap();
    unmap(&mem, TABLE, 0x200);
    // Hardware would translate here; Coherent faults and says so.
    assert_eq!(
        dma(&mut c, 0, 0x20_0000, Direction::Write, &mem)
            .unwrap_err()
            .reason,
        FaultReason::NotValid
    );
    let s = c.stats(0).unwrap();
    assert_eq!(
        (s.cache_misses, s.cache_hits, s.stale_hits, s.tce_fetches),
        (1, 2, 1, 3)
    );
    assert_eq!(
        c.cache_occupancy(0),
        0,
        "the invalid memory value dropped the line"
    );
    // A remap to another page: stale hit, memory value wins.
    map(&mem, TABLE, 0x201, 0x6000, false);
    dma(&mut c, 0, 0x20_1000, Direction::Read, &mem).unwrap();
    map(&mem, TABLE, 0x201, 0x7000, false);
    assert_eq!(
        dma(&mut c, 0, 0x20_1000, Direction::Read, &mem)
            .unwrap()
            .phys,
        0x7000
    );
    assert_eq!(c.stats(0).unwrap().stale_hits, 2);
}

#[test]
fn s5_flush_empties_cache_and_counts() {
    for policy in [CachePolicy::Coherent, CachePolicy::Faithful] {
        let (mut c, mem) = setup(policy);
        for i in 0..8 {
            map(&mem, TABLE, 0x200 + i, 0x5000 + (i << 12), false);
            dma(&mut c, 0, (0x200 + i) << 12, Direction::Read, &mem).unwrap();
        }
        assert_eq!(c.cache_occupancy(0), 8);
        flush(&mut c, 0);
        assert_eq!(c.cache_occupancy(0), 0);
        assert_eq!(c.stats(0).unwrap().flushes, 2, "enable() wrote TAR once");
        dma(&mut c, 0, 0x20_0000, Direction::Read, &mem).unwrap();
        assert_eq!(c.stats(0).unwrap().cache_misses, 9);
    }
}

#[test]
fn s5_set_associative_lru_eviction() {
    // 8 entries, 2 ways: 4 sets; indexes 0x200, 0x204, 0x208 share set 0.
    let (mut c, mem) = setup_geo(CachePolicy::Faithful, 8, 2);
    for i in [0x200u64, 0x204, 0x208] {
        map(&mem, TABLE, i, i << 12, false);
    }
    dma(&mut c, 0, 0x200 << 12, Direction::Read, &mem).unwrap();
    dma(&mut c, 0, 0x204 << 12, Direction::Read, &mem).unwrap();
    dma(&mut c, 0, 0x200 << 12, Direction::Read, &mem).unwrap(); // 0x200 most recent
    dma(&mut c, 0, 0x208 << 12, Direction::Read, &mem).unwrap(); // evicts 0x204
    let s = c.stats(0).unwrap();
    assert_eq!((s.cache_hits, s.cache_misses, s.cache_evictions), (1, 3, 1));
    // Prove which one went: free both, only 0x200 still translates.
    unmap(&mem, TABLE, 0x200);
    unmap(&mem, TABLE, 0x204);
    assert!(dma(&mut c, 0, 0x200 << 12, Direction::Read, &mem).is_ok());
    assert!(dma(&mut c, 0, 0x204 << 12, Direction::Read, &mem).is_err());
}

#[test]
fn s5_direct_mapped_and_fully_associative_geometries() {
    for (entries, ways) in [(1, 1), (16, 1), (16, 16), (64, 64)] {
        let (mut c, mem) = setup_geo(CachePolicy::Faithful, entries, ways);
        for i in 0..(2 * entries as u64) {
            map(&mem, TABLE, 0x200 + i, 0x1000 * (i + 1), false);
            assert_eq!(
                dma(&mut c, 0, (0x200 + i) << 12, Direction::Read, &mem)
                    .unwrap()
                    .phys,
                0x1000 * (i + 1)
            );
        }
        assert_eq!(c.cache_occupancy(0), entries as usize);
        assert_eq!(c.stats(0).unwrap().cache_evictions, u64::from(entries));
    }
}

#[test]
fn s5_cached_read_only_entry_still_checks_permission() {
    let (mut c, mem) = setup(CachePolicy::Faithful);
    map(&mem, TABLE, 0x200, 0x5000, true);
    dma(&mut c, 0, 0x20_0000, Direction::Read, &mem).unwrap();
    assert_eq!(
        dma(&mut c, 0, 0x20_0000, Direction::Write, &mem)
            .unwrap_err()
            .reason,
        FaultReason::ReadOnly
    );
    assert_eq!(c.stats(0).unwrap().cache_hits, 1);
}

#[test]
fn s5_caches_are_per_phb() {
    let (mut c, mem) = setup(CachePolicy::Faithful);
    enable(&mut c, 1, TABLE, 0);
    map(&mem, TABLE, 0x200, 0x5000, false);
    dma(&mut c, 0, 0x20_0000, Direction::Read, &mem).unwrap();
    unmap(&mem, TABLE, 0x200);
    assert!(dma(&mut c, 0, 0x20_0000, Direction::Read, &mem).is_ok());
    assert!(dma(&mut c, 1, 0x20_0000, Direction::Read, &mem).is_err());
}

#[test]
fn cache_geometry_validation() {
    let ok = |entries, ways| {
        CacheConfig {
            policy: CachePolicy::Faithful,
            entries,
            ways,
        }
        .validate()
    };
    assert!(ok(1, 1).is_ok());
    assert!(ok(MAX_CACHE_ENTRIES, MAX_CACHE_WAYS).is_ok());
    assert_eq!(ok(0, 1), Err(ConfigError::CacheEntriesNotPowerOfTwo(0)));
    assert_eq!(ok(96, 4), Err(ConfigError::CacheEntriesNotPowerOfTwo(96)));
    assert_eq!(
        ok(MAX_CACHE_ENTRIES * 2, 4),
        Err(ConfigError::CacheEntriesTooLarge(MAX_CACHE_ENTRIES * 2))
    );
    assert_eq!(ok(64, 0), Err(ConfigError::CacheWaysOutOfRange(0)));
    assert_eq!(ok(256, 128), Err(ConfigError::CacheWaysOutOfRange(128)));
    assert_eq!(
        ok(2, 4),
        Err(ConfigError::CacheWaysDoNotDivideEntries {
            entries: 2,
            ways: 4
        })
    );
    assert_eq!(
        ok(64, 3),
        Err(ConfigError::CacheWaysDoNotDivideEntries {
            entries: 64,
            ways: 3
        })
    );
    for e in [ok(0, 1), ok(64, 0), ok(64, 3), ok(1 << 20, 1)] {
        let s = e.unwrap_err().to_string();
        assert!(s.starts_with("cache ") && !s.contains('\n'), "{s}");
    }
}

#[test]
fn statistics_count_every_outcome() {
    let (mut c, mem) = setup(CachePolicy::Faithful);
    map(&mem, TABLE, 0x200, 0x5000, true);
    dma(&mut c, 0, 0x20_0000, Direction::Read, &mem).unwrap(); // miss, fetch, translation
    dma(&mut c, 0, 0x20_0000, Direction::Read, &mem).unwrap(); // hit
    dma(&mut c, 0, 0x20_0000, Direction::Write, &mem).unwrap_err(); // hit, read-only
    dma(&mut c, 0, 0x30_0000, Direction::Read, &mem).unwrap_err(); // miss, not valid
    dma(&mut c, 0, 0xB000_0000, Direction::Read, &mem).unwrap_err(); // out of range
    dma(&mut c, 0, 0xC_0000, Direction::Read, &mem).unwrap(); // window
    let s = c.stats(0).unwrap();
    assert_eq!(s.translations, 2);
    assert_eq!((s.cache_hits, s.cache_misses, s.tce_fetches), (2, 2, 2));
    assert_eq!(
        (
            s.blocked_read_only,
            s.blocked_not_valid,
            s.blocked_out_of_range
        ),
        (1, 1, 1)
    );
    assert_eq!(
        (s.window, s.bypassed, s.errors_latched, s.flushes),
        (1, 0, 1, 1)
    );
    c.clear_stats(0);
    assert_eq!(c.stats(0).unwrap(), PhbStats::default());
}
