//! Translation blocks (Chip::set_blocks, MODEL.md "Translation blocks"):
//! with the Faithful cache, a device translation may cover the naturally
//! aligned 64 KiB block around the page when every TCE of the block is
//! cached, contiguous and of one permission. A block must never reach an
//! address, or allow a direction, that a page-by-page walk would not.
#![allow(clippy::unwrap_used, clippy::indexing_slicing, clippy::expect_used)]

mod common;

use calgary_core::*;
use common::*;
use proptest::prelude::*;
use std::sync::atomic::{AtomicUsize, Ordering};

const TABLE: u64 = 0x10_0000;
const BLOCK: u64 = 0xffff;

fn setup(policy: CachePolicy) -> (Chip, VecMem) {
    let mut c = chip(Variant::Calgary, policy);
    enable(&mut c, 0, TABLE, 0);
    (c, VecMem::new(1 << 23))
}

/// Maps IO pages `first..first+n` to `phys..` (read/write).
fn map_run(mem: &VecMem, first: u64, n: u64, phys: u64) {
    for i in 0..n {
        map(mem, TABLE, first + i, phys + (i << 12), false);
    }
}

/// The addr_mask of a device read of IO page `page`.
fn mask(c: &mut Chip, mem: &VecMem, page: u64) -> u64 {
    dma(c, 0, page << 12, Direction::Read, mem)
        .unwrap()
        .addr_mask
}

/// Translates every page of `first..first+n` once (fills the cache).
fn warm(c: &mut Chip, mem: &VecMem, first: u64, n: u64) {
    for i in 0..n {
        dma(c, 0, (first + i) << 12, Direction::Read, mem).unwrap();
    }
}

#[test]
fn a_wholly_cached_contiguous_block_is_one_translation() {
    let (mut c, mem) = setup(CachePolicy::Faithful);
    assert!(c.blocks(), "on by default");
    map_run(&mem, 0x200, 16, 0x40_0000);
    // Cold: the first page is a miss and its neighbours are not cached.
    let t = dma(&mut c, 0, (0x205 << 12) | 0x123, Direction::Write, &mem).unwrap();
    assert_eq!((t.phys, t.addr_mask), (0x40_5123, 0xfff));
    warm(&mut c, &mem, 0x200, 16);
    let before = c.stats(0).unwrap();
    let t = dma(&mut c, 0, (0x205 << 12) | 0x123, Direction::Write, &mem).unwrap();
    assert_eq!((t.phys, t.addr_mask), (0x40_5123, BLOCK));
    assert!(t.read && t.write);
    let s = c.stats(0).unwrap();
    // One call: one translation, one hit, nothing read from memory.
    assert_eq!(s.translations - before.translations, 1);
    assert_eq!(s.cache_hits - before.cache_hits, 1);
    assert_eq!(s.tce_fetches, before.tce_fetches);
}

#[test]
fn a_block_forms_only_when_a_dma_continues_and_is_dropped_when_the_cache_changes() {
    let (mut c, mem) = setup(CachePolicy::Faithful);
    map_run(&mem, 0x200, 16, 0x40_0000);
    map_run(&mem, 0x300, 0x50, 0x80_0000);
    // Warm backwards: no translation continues the one before it.
    for i in (0..16).rev() {
        dma(&mut c, 0, (0x200 + i) << 12, Direction::Read, &mem).unwrap();
    }
    let page = |c: &mut Chip, p: u64| dma(c, 0, p << 12, Direction::Read, &mem).unwrap().addr_mask;
    assert_eq!(page(&mut c, 0x205), 0xfff, "a lone page");
    assert_eq!(page(&mut c, 0x206), BLOCK, "continues 0x205");
    assert_eq!(page(&mut c, 0x20e), BLOCK, "inside the block formed");
    assert_eq!(page(&mut c, 0x202), BLOCK, "inside the block formed");
    // Pages 0x313, 0x323, 0x333, 0x343 share the 4-way set of 0x203 (16
    // sets): 0x203 is evicted, and the block with it.
    for p in [0x313, 0x323, 0x333, 0x343] {
        page(&mut c, p);
    }
    assert!(c.stats(0).unwrap().cache_evictions > 0);
    assert_eq!(page(&mut c, 0x205), 0xfff);
    assert_eq!(page(&mut c, 0x206), 0xfff, "0x203 is no longer cached");
}

#[test]
fn blocks_off_translates_page_by_page() {
    let (mut c, mem) = setup(CachePolicy::Faithful);
    c.set_blocks(false);
    map_run(&mem, 0x200, 16, 0x40_0000);
    warm(&mut c, &mem, 0x200, 16);
    let t = dma(&mut c, 0, 0x205 << 12, Direction::Read, &mem).unwrap();
    assert_eq!(t.addr_mask, 0xfff);
}

#[test]
fn only_the_faithful_cache_gives_blocks() {
    for policy in [CachePolicy::Off, CachePolicy::Coherent] {
        let (mut c, mem) = setup(policy);
        map_run(&mem, 0x200, 16, 0x40_0000);
        warm(&mut c, &mem, 0x200, 16);
        let t = dma(&mut c, 0, 0x205 << 12, Direction::Read, &mem).unwrap();
        assert_eq!(t.addr_mask, 0xfff, "{policy}");
    }
}

#[test]
fn one_uncached_page_breaks_the_block() {
    let (mut c, mem) = setup(CachePolicy::Faithful);
    map_run(&mem, 0x200, 16, 0x40_0000);
    warm(&mut c, &mem, 0x200, 15); // 0x20f never used
    assert_eq!(mask(&mut c, &mem, 0x203), 0xfff);
}

#[test]
fn discontiguous_or_misaligned_or_mixed_permissions_break_the_block() {
    // One page elsewhere.
    let (mut c, mem) = setup(CachePolicy::Faithful);
    map_run(&mem, 0x200, 16, 0x40_0000);
    map(&mem, TABLE, 0x209, 0x70_0000, false);
    warm(&mut c, &mem, 0x200, 16);
    assert_eq!(mask(&mut c, &mem, 0x200), 0xfff);
    // Contiguous, but the physical start is not 64 KiB aligned.
    let (mut c, mem) = setup(CachePolicy::Faithful);
    map_run(&mem, 0x200, 16, 0x40_1000);
    warm(&mut c, &mem, 0x200, 16);
    assert_eq!(mask(&mut c, &mem, 0x200), 0xfff);
    // One read-only page: a write to a read-write page of the block gets
    // that page alone, a write to the read-only one is blocked.
    let (mut c, mem) = setup(CachePolicy::Faithful);
    map_run(&mem, 0x200, 16, 0x40_0000);
    map(&mem, TABLE, 0x20c, 0x40_c000, true);
    warm(&mut c, &mem, 0x200, 16);
    assert_eq!(
        dma(&mut c, 0, 0x201 << 12, Direction::Write, &mem)
            .unwrap()
            .addr_mask,
        0xfff
    );
    assert_eq!(
        dma(&mut c, 0, 0x20c << 12, Direction::Write, &mem)
            .unwrap_err()
            .reason,
        FaultReason::ReadOnly
    );
}

#[test]
fn a_block_never_covers_an_untranslated_window() {
    // MEM_1 moved to start in the middle of the block of IO pages
    // 0x200..0x20f (a guest may program any start): pages below it still
    // translate, one page at a time.
    let (mut c, mem) = setup(CachePolicy::Faithful);
    map_run(&mem, 0x200, 16, 0x40_0000);
    warm(&mut c, &mem, 0x200, 16);
    assert_eq!(mask(&mut c, &mem, 0x201), BLOCK);
    writel(&mut c, regs::phb_reg(0, regs::PHB_MEM_1_HIGH), 0);
    writel(&mut c, regs::phb_reg(0, regs::PHB_MEM_1_LOW), 0x20_8000);
    writel(&mut c, regs::phb_reg(0, regs::PHB_MEM_1_SIZE), 0x20_8000);
    let t = dma(&mut c, 0, 0x201 << 12, Direction::Read, &mem).unwrap();
    assert_eq!((t.kind, t.addr_mask), (XlateKind::Translated, 0xfff));
    assert_eq!(
        dma(&mut c, 0, 0x209 << 12, Direction::Read, &mem)
            .unwrap()
            .kind,
        XlateKind::Window
    );
    // The reset MEM_2 window (the first MiB) is aligned: the block just
    // above it qualifies.
    map_run(&mem, 0x100, 16, 0x50_0000);
    warm(&mut c, &mem, 0x100, 16);
    assert_eq!(mask(&mut c, &mem, 0x100), BLOCK);
    assert_eq!(
        dma(&mut c, 0, 0xff << 12, Direction::Read, &mem)
            .unwrap()
            .kind,
        XlateKind::Window
    );
}

#[test]
fn a_freed_but_cached_tce_stays_in_the_block_until_the_flush() {
    // The page-by-page walk would use the cached TCE too (§5 faithful).
    let (mut c, mem) = setup(CachePolicy::Faithful);
    map_run(&mem, 0x200, 16, 0x40_0000);
    warm(&mut c, &mem, 0x200, 16);
    unmap(&mem, TABLE, 0x207);
    assert_eq!(mask(&mut c, &mem, 0x200), BLOCK);
    enable(&mut c, 0, TABLE, 0); // TAR write: flush
    assert_eq!(mask(&mut c, &mem, 0x200), 0xfff);
    assert!(dma(&mut c, 0, 0x207 << 12, Direction::Read, &mem).is_err());
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(300))]

    /// Whatever the table and whatever is cached: every address a block
    /// translation covers translates, page by page with blocks off on a
    /// copy of the chip, to the same physical address with every
    /// permission the block claims.
    #[test]
    fn a_block_agrees_with_the_page_by_page_walk(
        tces in proptest::collection::vec((0u64..96, 0u64..3, 0u64..4, prop::bool::ANY), 0..10),
        warm_all in prop::bool::ANY,
        warmups in proptest::collection::vec(0u64..96, 0..96),
        late in proptest::collection::vec(0u64..96, 0..4),
        dmas in proptest::collection::vec((0u64..96, 1u64..24, 0u64..0x1000, prop::bool::ANY), 1..16),
        line in prop::bool::ANY,
    ) {
        let (mut c, mem) = setup(CachePolicy::Faithful);
        c.set_line_fill(line);
        // IO pages 0x200..0x25f map 0x40_0000.. read/write (six blocks, more
        // pages than the 64-entry cache holds: translations evict),
        // then a few TCEs change: another page, a page off by one, or
        // other permissions (none / read / write / both).
        map_run(&mem, 0x200, 96, 0x40_0000);
        let tce = |page: u64, target: u64, perms: u64, shift: bool| {
            let phys = match target {
                0 => 0x40_0000 + (page << 12),
                1 => 0x50_0000 + ((page ^ 3) << 12),
                _ => 0x60_0000 + (page << 12) + if shift { 0x1000 } else { 0 },
            };
            (phys & regs::TCE_RPN_MASK) | perms
        };
        for &(page, target, perms, shift) in &tces {
            mem.write_u64_be(TABLE + (0x200 + page) * 8, tce(page, target, perms, shift));
        }
        if warm_all {
            for w in 0..96 {
                let _ = dma(&mut c, 0, (0x200 + w) << 12, Direction::Read, &mem);
            }
        }
        for w in warmups {
            let _ = dma(&mut c, 0, (0x200 + w) << 12, Direction::Read, &mem);
        }
        // TCEs freed or changed after they were cached (no flush).
        for page in late {
            mem.write_u64_be(TABLE + (0x200 + page) * 8, tce(page, 1, 1, false));
        }
        // DMAs walking forwards page by page, as QEMU maps them.
        let probes = dmas.iter().flat_map(|&(page, len, off, write)| {
            (0..len).map(move |k| ((0x200 + (page + k) % 96) << 12 | if k == 0 { off } else { 0 }, write))
        });
        for (addr, write) in probes {
            let dir = if write { Direction::Write } else { Direction::Read };
            let mut walk = c.clone();
            walk.set_blocks(false);
            let Ok(t) = dma(&mut c, 0, addr, dir, &mem) else { continue };
            prop_assert!(t.addr_mask == 0xfff || t.addr_mask == BLOCK);
            if t.addr_mask == BLOCK {
                BLOCKS_SEEN.fetch_add(1, Ordering::Relaxed);
            }
            let start = addr & !t.addr_mask;
            for k in 0..=(t.addr_mask >> 12) {
                let a = start + (k << 12);
                for d in [Direction::Read, Direction::Write] {
                    let allowed = match d { Direction::Read => t.read, Direction::Write => t.write };
                    if !allowed {
                        continue;
                    }
                    let p = dma(&mut walk, 0, a, d, &mem);
                    prop_assert!(p.is_ok(), "block allows {:?} at {:#x}, walk says {:?}", d, a, p);
                    prop_assert_eq!(p.unwrap().phys, (t.phys & !t.addr_mask) + (a & t.addr_mask));
                }
            }
        }
    }
}

/// Blocks the property test saw (it must see some to mean anything).
static BLOCKS_SEEN: AtomicUsize = AtomicUsize::new(0);

#[test]
fn the_property_test_exercises_blocks() {
    // Runs the property alone, then checks that it produced blocks.
    a_block_agrees_with_the_page_by_page_walk();
    assert!(
        BLOCKS_SEEN.load(Ordering::Relaxed) > 50,
        "only {} blocks",
        BLOCKS_SEEN.load(Ordering::Relaxed)
    );
}
