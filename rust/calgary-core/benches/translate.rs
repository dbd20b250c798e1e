//! Cost of `Chip::translate` per 4 KiB page: cache hit, cache miss, and
//! `Off` (every DMA fetches its TCE), for table sizes 8 K..1 M entries,
//! plus the cost of a flush (TAR write).
//!
//! `cargo bench -p calgary-core --bench translate`
#![allow(clippy::unwrap_used, clippy::indexing_slicing, clippy::expect_used)]

use std::hint::black_box;
use std::time::Duration;

use calgary_core::regs;
use calgary_core::*;
use criterion::{criterion_group, criterion_main, BenchmarkId, Criterion};

const TABLE: u64 = 0x100_0000;

struct Mem(Vec<u8>);
impl GuestMemory for Mem {
    #[inline]
    fn read_u64_be(&self, addr: u64) -> Option<u64> {
        let a = usize::try_from(addr.checked_sub(TABLE)?).ok()?;
        let s = self.0.get(a..a.checked_add(8)?)?;
        Some(u64::from_be_bytes(s.try_into().ok()?))
    }
}

fn setup(policy: CachePolicy, size_code: u64) -> (Chip, Mem, u64) {
    let entries = 8192u64 << size_code;
    let phb = PhbConfig {
        first_bus: 0x10,
        last_bus: 0x10,
        mem1_start: 0xFFF0_0000,
        mem1_limit: 0xFFFF_FFFF,
    };
    let mut c = Chip::new(ChipConfig {
        variant: Variant::Calgary,
        bbar: 0xfef0_0000,
        chassis: 1,
        phbs: [phb; 4],
        cache: CacheConfig {
            policy,
            entries: 256,
            ways: 4,
        },
    })
    .unwrap();
    c.mmio_write(regs::tar(0), 8, TABLE | size_code);
    c.mmio_write(
        regs::phb_reg(0, regs::PHB_CONFIG_RW_OFFSET),
        4,
        u64::from(regs::PHB_TCE_ENABLE),
    );
    let mut m = vec![0u8; (entries * 8) as usize];
    for i in 0..entries {
        let t = ((0x4000_0000 + (i << 12)) & regs::TCE_RPN_MASK) | 3;
        m[(i * 8) as usize..(i * 8 + 8) as usize].copy_from_slice(&t.to_be_bytes());
    }
    (c, Mem(m), entries)
}

fn bench(cr: &mut Criterion) {
    let req = Requester {
        bus: 0x10,
        devfn: 8,
    };
    let mut g = cr.benchmark_group("translate");
    g.measurement_time(Duration::from_secs(2))
        .warm_up_time(Duration::from_millis(500))
        .sample_size(30);
    for s in [0u64, 2, 4, 7] {
        let entries = 8192u64 << s;
        // Hit: the same page again and again (Faithful).
        let (mut c, mem, _) = setup(CachePolicy::Faithful, s);
        let addr = (entries / 2) << 12;
        c.translate(0, addr, Direction::Write, Access::Device, req, &mem)
            .unwrap();
        g.bench_with_input(BenchmarkId::new("hit", entries), &addr, |b, &a| {
            b.iter(|| {
                c.translate(0, black_box(a), Direction::Write, Access::Device, req, &mem)
                    .unwrap()
            })
        });
        // Miss: walk pages 256..entries (pages 160..256 are the legacy
        // window), far more pages than the 256-entry cache holds.
        let (mut c, mem, _) = setup(CachePolicy::Faithful, s);
        let mut page = 256u64;
        g.bench_function(BenchmarkId::new("miss", entries), |b| {
            b.iter(|| {
                page += 1;
                if page >= entries {
                    page = 256;
                }
                c.translate(
                    0,
                    black_box(page << 12),
                    Direction::Read,
                    Access::Device,
                    req,
                    &mem,
                )
                .unwrap()
            })
        });
        assert!(c.stats(0).unwrap().cache_hits * 100 < c.stats(0).unwrap().cache_misses.max(1));
        // Off: every DMA fetches.
        let (mut c, mem, _) = setup(CachePolicy::Off, s);
        let mut page = 256u64;
        g.bench_function(BenchmarkId::new("off", entries), |b| {
            b.iter(|| {
                page += 1;
                if page >= entries {
                    page = 256;
                }
                c.translate(
                    0,
                    black_box(page << 12),
                    Direction::Read,
                    Access::Device,
                    req,
                    &mem,
                )
                .unwrap()
            })
        });
    }
    g.finish();
    // Scattered hits: 128 cached pages with no two adjacent, visited in a
    // cycle (a heap buffer's PRP entries, one call each), translation
    // blocks on and off: what the blocks' bookkeeping costs a lone page.
    let mut g = cr.benchmark_group("scattered_hit");
    g.measurement_time(Duration::from_secs(2))
        .warm_up_time(Duration::from_millis(500))
        .sample_size(30);
    for blocks in [false, true] {
        let (mut c, mem, _) = setup(CachePolicy::Faithful, 0);
        c.set_blocks(blocks);
        let pages: Vec<u64> = (0..128u64).map(|i| 0x400 + (i * 37) % 128 * 3).collect();
        for &p in &pages {
            c.translate(0, p << 12, Direction::Read, Access::Device, req, &mem)
                .unwrap();
        }
        let mut i = 0usize;
        let name = if blocks { "blocks_on" } else { "blocks_off" };
        g.bench_function(name, |b| {
            b.iter(|| {
                i = (i + 1) % pages.len();
                c.translate(
                    0,
                    black_box(pages[i] << 12),
                    Direction::Read,
                    Access::Device,
                    req,
                    &mem,
                )
                .unwrap()
            })
        });
        let s = c.stats(0).unwrap();
        assert!(
            s.cache_misses <= 128 && s.cache_hits > s.cache_misses,
            "{s:?}"
        );
    }
    g.finish();
    let (mut c, _, _) = setup(CachePolicy::Faithful, 7);
    let tar = c.tar(0);
    cr.bench_function("flush_tar_write", |b| {
        b.iter(|| c.mmio_write(regs::tar(0), 8, black_box(tar)))
    });
}

criterion_group!(benches, bench);
criterion_main!(benches);
