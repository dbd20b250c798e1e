//! The steps of a translation (§4) that [`Chip::translate`](crate::Chip::translate)
//! strings together: the untranslated windows, the TCE fetch through the
//! cache policy of §5, and blocking a DMA (counting it, latching CSR/PLSSR).

use crate::csr::csr_encode;
use crate::diag::{self, ChipName};
use crate::phb::{Derived, Phb};
use crate::regs::{RegId, TceBits};
use crate::{
    CachePolicy, Direction, Fault, FaultReason, GuestMemory, PhbStats, Requester, Variant,
    LEGACY_WINDOW_END, TCE_LINE, TCE_PAGE_MASK,
};

/// Untranslated window containing `a`, as an addr_mask.
#[inline]
pub(crate) fn window_mask(variant: Variant, d: &Derived, a: u64) -> Option<u64> {
    if a < LEGACY_WINDOW_END && a >= variant.legacy_window_start() {
        return Some(TCE_PAGE_MASK);
    }
    for (start, last) in [d.mem1, d.mem2].into_iter().flatten() {
        if a >= start && a <= last {
            let lo = a & !TCE_PAGE_MASK;
            let hi = lo | TCE_PAGE_MASK;
            return Some(if lo >= start && hi <= last {
                TCE_PAGE_MASK
            } else {
                0
            });
        }
    }
    None
}

/// TCE for `idx` according to the cache policy.  `None` = read failed.
#[inline]
pub(crate) fn fetch_tce(
    p: &mut Phb,
    policy: CachePolicy,
    idx: u32,
    tce_addr: Option<u64>,
    line: Option<(u32, u64)>,
    device: bool,
    mem: &dyn GuestMemory,
) -> Option<u64> {
    let stats = &mut p.stats;
    let inj = &mut p.inject;
    let read_mem = |stats: &mut PhbStats, inj: &mut crate::inject::PhbInject| {
        if device {
            stats.tce_fetches = stats.tce_fetches.wrapping_add(1);
            if inj.take_fetch_failure() {
                return None;
            }
        }
        tce_addr.and_then(|a| mem.read_u64_be(a))
    };
    let valid = |t: u64| TceBits::from_bits_retain(t).valid();
    match policy {
        CachePolicy::Off => read_mem(stats, inj),
        CachePolicy::Faithful => {
            if let Some(slot) = p.cache.find(idx) {
                if device {
                    stats.cache_hits = stats.cache_hits.wrapping_add(1);
                    p.cache.touch(slot);
                }
                return p.cache.tce_at(slot);
            }
            if device {
                stats.cache_misses = stats.cache_misses.wrapping_add(1);
            }
            if let (Some((first, addr)), true) = (line, device) {
                // Line fill: one read of the aligned line; every valid TCE
                // of it is cached, invalid ones are not (so a TCE written
                // later is still seen without a flush).
                let mut tces = [0u64; TCE_LINE];
                stats.tce_fetches = stats.tce_fetches.wrapping_add(1);
                if inj.take_fetch_failure() || !mem.read_tce_line(addr, &mut tces) {
                    return None;
                }
                let mut want = None;
                for (j, &t) in tces.iter().enumerate() {
                    let i = first.wrapping_add(j as u32);
                    if i == idx {
                        want = Some(t);
                    }
                    if valid(t) && p.cache.find(i).is_none() && p.cache.insert(i, t) {
                        stats.cache_evictions = stats.cache_evictions.wrapping_add(1);
                    }
                }
                return want;
            }
            let t = read_mem(stats, inj)?;
            if device && valid(t) && p.cache.insert(idx, t) {
                stats.cache_evictions = stats.cache_evictions.wrapping_add(1);
            }
            Some(t)
        }
        CachePolicy::Coherent => {
            if let Some(slot) = p.cache.find(idx) {
                let cached = p.cache.tce_at(slot);
                let fresh = read_mem(stats, inj);
                if !device {
                    return fresh;
                }
                stats.cache_hits = stats.cache_hits.wrapping_add(1);
                match fresh {
                    Some(t) => {
                        if cached != Some(t) {
                            stats.stale_hits = stats.stale_hits.wrapping_add(1);
                        }
                        if valid(t) {
                            p.cache.set_tce(slot, t);
                            p.cache.touch(slot);
                        } else {
                            p.cache.invalidate_slot(slot);
                        }
                        Some(t)
                    }
                    None => {
                        p.cache.invalidate_slot(slot);
                        None
                    }
                }
            } else {
                if device {
                    stats.cache_misses = stats.cache_misses.wrapping_add(1);
                }
                let t = read_mem(stats, inj)?;
                if device && valid(t) && p.cache.insert(idx, t) {
                    stats.cache_evictions = stats.cache_evictions.wrapping_add(1);
                }
                Some(t)
            }
        }
    }
}

/// Records a blocked DMA: counts it and latches CSR/PLSSR if nothing is
/// latched yet (device accesses only).
#[cold]
#[allow(clippy::too_many_arguments)]
pub(crate) fn block(
    name: ChipName<'_>,
    p: &mut Phb,
    phb: usize,
    io_addr: u64,
    dir: Direction,
    requester: Requester,
    reason: FaultReason,
    device: bool,
) -> Fault {
    let mut f = Fault {
        phb: phb as u8,
        io_addr,
        dir,
        requester,
        reason,
        newly_latched: false,
    };
    if !device {
        return f;
    }
    let key = (io_addr >> 12, dir, requester);
    if p.last_block != Some(key) {
        p.last_block = Some(key);
        p.stats.count_blocked(reason);
    }
    if crate::inject::csr_free(p) {
        f.newly_latched = true;
        let (csr, plssr) = csr_encode(&f);
        p.set_reg(RegId::Csr, u64::from(csr));
        p.set_reg(RegId::Plssr, u64::from(plssr));
        p.latched = Some(f);
        p.last_fault = Some(f);
        p.stats.errors_latched = p.stats.errors_latched.wrapping_add(1);
        diag::dma_latched(name, &f, csr);
    }
    f
}

/// IO pages in one translation block: 16 pages, 64 KiB (model decision,
/// `MODEL.md` "Translation blocks").
pub const TCE_BLOCK_PAGES: u64 = 16;
/// The addr_mask of a translation block.
pub const TCE_BLOCK_MASK: u64 = (TCE_BLOCK_PAGES << 12) - 1;

/// Whether the IO range `[lo, hi]` meets an untranslated window.
#[inline]
fn meets_window(variant: Variant, d: &Derived, lo: u64, hi: u64) -> bool {
    let meets = |start: u64, last: u64| lo <= last && hi >= start;
    let legacy = variant.legacy_window_start() < LEGACY_WINDOW_END
        && meets(variant.legacy_window_start(), LEGACY_WINDOW_END - 1);
    legacy
        || [d.mem1, d.mem2]
            .into_iter()
            .flatten()
            .any(|(s, l)| meets(s, l))
}

/// Faithful cache only: the naturally aligned block of
/// [`TCE_BLOCK_PAGES`] pages around `index`, whose TCE `tce` was just
/// resolved, when every other TCE of the block is **in the cache** with the
/// same permission bits and maps the page that continues the block
/// contiguously, the block's physical start being aligned like its IO
/// start.  Then one translation can stand for the whole block: a DMA that
/// walked it page by page would hit the cache on each page and get the same
/// addresses.  The lines of the block are marked used.  Nothing is read from
/// guest memory and nothing is inserted; `None` (the caller translates one
/// page) as soon as one page does not qualify.
#[inline]
pub(crate) fn cached_block(p: &mut Phb, variant: Variant, index: u64, tce: u64) -> Option<u64> {
    let first = index & !(TCE_BLOCK_PAGES - 1);
    let last = first + (TCE_BLOCK_PAGES - 1);
    if last >= p.derived.entries
        || meets_window(
            variant,
            &p.derived,
            first << 12,
            (last << 12) | TCE_PAGE_MASK,
        )
    {
        return None;
    }
    let perms = TceBits::from_bits_retain(tce).intersection(TceBits::PERMS);
    let base = TceBits::from_bits_retain(tce)
        .page()
        .checked_sub((index - first) << 12)?;
    if base & TCE_BLOCK_MASK != 0 {
        return None;
    }
    let mut slots = [0usize; TCE_BLOCK_PAGES as usize];
    // Upwards from the page after `index` first: a DMA walks forwards, and
    // a lone page fails on its first neighbour.
    for k in (1..TCE_BLOCK_PAGES).map(|k| (index - first + k) % TCE_BLOCK_PAGES) {
        let slot = p.cache.find((first + k) as u32)?;
        let t = TceBits::from_bits_retain(p.cache.tce_at(slot)?);
        if t.intersection(TceBits::PERMS) != perms || t.page() != base + (k << 12) {
            return None;
        }
        if let Some(s) = slots.get_mut(k as usize) {
            *s = slot;
        }
    }
    let own = (index - first) as usize;
    for (k, &slot) in slots.iter().enumerate() {
        if k != own {
            p.cache.touch(slot);
        }
    }
    Some(TCE_BLOCK_MASK)
}
