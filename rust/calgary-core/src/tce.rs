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
    let read_mem = |stats: &mut PhbStats| {
        if device {
            stats.tce_fetches = stats.tce_fetches.wrapping_add(1);
        }
        tce_addr.and_then(|a| mem.read_u64_be(a))
    };
    let valid = |t: u64| TceBits::from_bits_retain(t).valid();
    match policy {
        CachePolicy::Off => read_mem(stats),
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
                if !mem.read_tce_line(addr, &mut tces) {
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
            let t = read_mem(stats)?;
            if device && valid(t) && p.cache.insert(idx, t) {
                stats.cache_evictions = stats.cache_evictions.wrapping_add(1);
            }
            Some(t)
        }
        CachePolicy::Coherent => {
            if let Some(slot) = p.cache.find(idx) {
                let cached = p.cache.tce_at(slot);
                let fresh = read_mem(stats);
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
                let t = read_mem(stats)?;
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
    if p.latched.is_none() {
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
