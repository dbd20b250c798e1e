//! The translation of one DMA (§4): [`Phb::translate`], which
//! [`Chip::translate`](crate::Chip::translate) calls, and its steps: the
//! untranslated windows, the TCE fetch through the cache policy of §5, the
//! translation blocks (`MODEL.md`) and blocking a DMA (counting it, latching
//! CSR/PLSSR).

use crate::chip::ChipView;
use crate::csr::csr_encode;
use crate::diag::{self, ChipName};
use crate::phb::{Derived, Phb};
use crate::regs::{RegId, TceBits};
use crate::{
    Access, CachePolicy, Direction, Fault, FaultReason, GuestMemory, PhbStats, Requester,
    Translation, Variant, XlateKind, LEGACY_WINDOW_END, TCE_LINE, TCE_PAGE_MASK,
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

/// The addr_mask of a faithful device translation of IO page `index`
/// (TCE `tce`, just resolved): the block's when the page lies in the last
/// block formed and the cache has not changed since, or when it continues
/// the previous translation and its block qualifies (`cached_block`);
/// else one page.
#[inline]
fn block_mask(p: &mut Phb, variant: Variant, index: u64, tce: u64) -> u64 {
    let first = index & !(TCE_BLOCK_PAGES - 1);
    let epoch = p.cache.epoch();
    let mut mask = TCE_PAGE_MASK;
    if p.blocks.last == Some((first, epoch)) {
        mask = TCE_BLOCK_MASK;
    } else if index == p.blocks.next {
        if let Some(m) = cached_block(p, variant, index, tce) {
            p.blocks.last = Some((first, epoch));
            mask = m;
        }
    }
    p.blocks.next = (index | (mask >> 12)).wrapping_add(1);
    mask
}

impl Phb {
    /// [`Chip::translate`] on this PHB (number `phb` of its chip), for a
    /// host that keeps each PHB under its own lock.
    #[allow(clippy::too_many_arguments)]
    #[inline]
    pub fn translate(
        &mut self,
        chip: ChipView<'_>,
        phb: usize,
        io_addr: u64,
        dir: Direction,
        access: Access,
        req: Requester,
        mem: &dyn GuestMemory,
    ) -> Result<Translation, Fault> {
        let variant = chip.variant;
        let policy = chip.policy;
        let name = chip.name();
        let p = self;
        let device = access == Access::Device;
        if !device {
            p.stats.probes = p.stats.probes.wrapping_add(1);
        }
        let d = p.derived;

        // Step 1: slot disable.
        if d.slot_disabled {
            return Err(block(
                name,
                p,
                phb,
                io_addr,
                dir,
                req,
                FaultReason::SlotDisabled,
                device,
            ));
        }
        // Step 2: translation off.
        if !d.tce_enable {
            if device {
                p.stats.bypassed = p.stats.bypassed.wrapping_add(1);
            }
            // Identity everywhere: with blocks on, one answer covers the
            // aligned 64 KiB block (MODEL.md "Translation blocks").
            return Ok(Translation {
                phys: io_addr,
                addr_mask: if chip.blocks {
                    TCE_BLOCK_MASK
                } else {
                    TCE_PAGE_MASK
                },
                read: true,
                write: true,
                kind: XlateKind::Bypass,
            });
        }
        // Step 3: untranslated windows.
        if let Some(mask) = window_mask(variant, &d, io_addr) {
            if device {
                p.stats.window = p.stats.window.wrapping_add(1);
            }
            return Ok(Translation {
                phys: io_addr,
                addr_mask: mask,
                read: true,
                write: true,
                kind: XlateKind::Window,
            });
        }
        // Step 4: range check.
        let index = io_addr >> 12;
        if index >= d.entries {
            return Err(block(
                name,
                p,
                phb,
                io_addr,
                dir,
                req,
                FaultReason::OutOfRange,
                device,
            ));
        }
        // entries <= 1 M, so the index fits.
        let idx32 = index as u32;
        // Step 5: TCE fetch through the cache.
        let tce_addr = index
            .checked_mul(8)
            .and_then(|o| d.table_base.checked_add(o));
        let line = if chip.line_fill && policy == CachePolicy::Faithful {
            // The aligned line, if it lies wholly inside the table.
            let first = index & !(TCE_LINE as u64 - 1);
            (first + TCE_LINE as u64 <= d.entries)
                .then(|| {
                    first
                        .checked_mul(8)
                        .and_then(|o| d.table_base.checked_add(o))
                })
                .flatten()
                .map(|a| (first as u32, a))
        } else {
            None
        };
        // Injected TCE fetch failure: QEMU's retries of the blocked access
        // fail with it (inject.rs).
        if device && p.inject.is_sticky(io_addr, dir, req) {
            return Err(crate::inject::sticky_block(name, p, phb, io_addr, dir, req));
        }
        let failed_before = p.inject.stats.tce_fetch_failures;
        let tce = match fetch_tce(p, policy, idx32, tce_addr, line, device, mem) {
            Some(t) => t,
            None => {
                if p.inject.stats.tce_fetch_failures != failed_before {
                    p.inject.sticky = Some((io_addr, dir, req));
                    crate::inject::fetch_failed(name, phb, io_addr, req);
                }
                return Err(block(
                    name,
                    p,
                    phb,
                    io_addr,
                    dir,
                    req,
                    FaultReason::TceReadFailed,
                    device,
                ));
            }
        };
        let tce = TceBits::from_bits_retain(tce);
        let read = tce.contains(TceBits::READ);
        let write = tce.contains(TceBits::WRITE);
        let reason = if !read && !write {
            Some(FaultReason::NotValid)
        } else if !device {
            None
        } else {
            match dir {
                Direction::Read if !read => Some(FaultReason::WriteOnly),
                Direction::Write if !write => Some(FaultReason::ReadOnly),
                _ => None,
            }
        };
        if let Some(reason) = reason {
            return Err(block(name, p, phb, io_addr, dir, req, reason, device));
        }
        // Step 6: page frame; a whole cached block when it qualifies
        // (faithful cache, MODEL.md "Translation blocks").
        let mut addr_mask = TCE_PAGE_MASK;
        if device {
            p.stats.translations = p.stats.translations.wrapping_add(1);
            p.last_block = None;
            p.inject.translated(req);
            if chip.blocks && policy == CachePolicy::Faithful {
                addr_mask = block_mask(p, variant, index, tce.bits());
            }
        }
        Ok(Translation {
            phys: tce.page() | (io_addr & TCE_PAGE_MASK),
            addr_mask,
            read,
            write,
            kind: XlateKind::Translated,
        })
    }
}
