//! §5 with TCE line fill (Chip::set_line_fill): one aligned 64-byte read per
//! miss caches the valid TCEs of the line, never an invalid one.
#![allow(clippy::unwrap_used, clippy::indexing_slicing, clippy::expect_used)]

mod common;

use calgary_core::*;
use common::*;

const TABLE: u64 = 0x10_0000;

fn setup() -> (Chip, VecMem) {
    let mut c = chip(Variant::Calgary, CachePolicy::Faithful);
    c.set_line_fill(true);
    enable(&mut c, 0, TABLE, 0);
    (c, VecMem::new(1 << 22))
}

#[test]
fn s5_line_fill_one_fetch_serves_the_valid_neighbours() {
    let (mut c, mem) = setup();
    for i in 0..8u64 {
        map(&mem, TABLE, 0x200 + i, 0x10_0000 + (i << 12), false);
    }
    for i in 0..8u64 {
        let t = dma(&mut c, 0, (0x200 + i) << 12, Direction::Write, &mem).unwrap();
        assert_eq!(t.phys, 0x10_0000 + (i << 12));
    }
    let s = c.stats(0).unwrap();
    assert_eq!((s.cache_misses, s.cache_hits, s.tce_fetches), (1, 7, 1));
}

#[test]
fn s5_line_fill_never_caches_an_invalid_neighbour() {
    let (mut c, mem) = setup();
    map(&mem, TABLE, 0x200, 0x10_0000, false);
    dma(&mut c, 0, 0x200 << 12, Direction::Write, &mem).unwrap();
    // 0x201 was invalid when the line was read; Linux maps it now, with no
    // flush: the new TCE must be used.
    map(&mem, TABLE, 0x201, 0x20_0000, false);
    let t = dma(&mut c, 0, 0x201 << 12, Direction::Write, &mem).unwrap();
    assert_eq!(t.phys, 0x20_0000);
}

#[test]
fn s5_line_fill_freed_neighbour_stale_until_flush() {
    let (mut c, mem) = setup();
    map(&mem, TABLE, 0x200, 0x10_0000, false);
    map(&mem, TABLE, 0x203, 0x30_0000, false);
    dma(&mut c, 0, 0x200 << 12, Direction::Write, &mem).unwrap();
    unmap(&mem, TABLE, 0x203);
    // Prefetched before it was freed: still translates (faithful)...
    assert_eq!(
        dma(&mut c, 0, 0x203 << 12, Direction::Write, &mem)
            .unwrap()
            .phys,
        0x30_0000
    );
    // ...until the flush (TAR rewrite).
    enable(&mut c, 0, TABLE, 0);
    assert!(dma(&mut c, 0, 0x203 << 12, Direction::Write, &mem).is_err());
}

#[test]
fn s5_line_fill_off_by_default_and_agrees_with_reference() {
    let mut c = chip(Variant::Calgary, CachePolicy::Faithful);
    assert!(!c.line_fill());
    enable(&mut c, 0, TABLE, 0);
    let mem = VecMem::new(1 << 22);
    for i in 0..8u64 {
        map(&mem, TABLE, 0x200 + i, 0x10_0000 + (i << 12), false);
    }
    for i in 0..8u64 {
        dma(&mut c, 0, (0x200 + i) << 12, Direction::Write, &mem).unwrap();
    }
    assert_eq!(c.stats(0).unwrap().cache_misses, 8);
}
