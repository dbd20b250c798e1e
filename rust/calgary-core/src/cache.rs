//! The per-PHB TCE cache (§5): set-associative, LRU within a set.
//!
//! Validity is a generation number so that a flush is O(1): a line is
//! valid only while its `gen` equals the cache's.  Only TCEs with at least
//! one permission bit are ever inserted (a fetched invalid TCE is never
//! cached, so new mappings are visible without a flush).

use core::fmt;

use crate::ConfigError;

/// TCE cache policy (model decision, §5; see `MODEL.md`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum CachePolicy {
    /// No cache: every DMA reads its TCE from guest memory.  Strictest: a
    /// freed TCE faults at once.
    Off,
    /// A set-associative cache of the configured geometry whose hits,
    /// misses and evictions are counted, but every hit is re-validated
    /// against memory.  A hit whose cached TCE differs from memory uses the
    /// memory value and counts a `stale_hit`: the places where real hardware
    /// would have used a stale entry.
    Coherent,
    /// A set-associative cache that behaves like the hardware: a cached TCE
    /// keeps translating, even after the guest freed it, until the next
    /// flush (TAR write) or until it is evicted.
    Faithful,
}

impl CachePolicy {
    pub(crate) fn to_byte(self) -> u8 {
        match self {
            CachePolicy::Off => 0,
            CachePolicy::Coherent => 1,
            CachePolicy::Faithful => 2,
        }
    }
    pub(crate) fn from_byte(b: u8) -> Option<Self> {
        match b {
            0 => Some(CachePolicy::Off),
            1 => Some(CachePolicy::Coherent),
            2 => Some(CachePolicy::Faithful),
            _ => None,
        }
    }
}

impl fmt::Display for CachePolicy {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            CachePolicy::Off => "off",
            CachePolicy::Coherent => "coherent",
            CachePolicy::Faithful => "faithful",
        })
    }
}

/// Largest TCE cache (entries per PHB) the model accepts.
pub const MAX_CACHE_ENTRIES: u32 = 1 << 16;
/// Largest associativity the model accepts.
pub const MAX_CACHE_WAYS: u32 = 64;

/// Geometry and policy of each PHB's TCE cache.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct CacheConfig {
    /// Policy, see [`CachePolicy`].
    pub policy: CachePolicy,
    /// Total cache entries per PHB: a power of two, 1..=[`MAX_CACHE_ENTRIES`].
    /// Ignored (not validated) when `policy` is `Off`.
    pub entries: u32,
    /// Associativity: 1..=[`MAX_CACHE_WAYS`], must divide `entries`.
    /// Ignored when `policy` is `Off`.
    pub ways: u32,
}

impl Default for CacheConfig {
    /// Faithful, 256 entries, 4-way.
    fn default() -> Self {
        CacheConfig {
            policy: CachePolicy::Faithful,
            entries: 256,
            ways: 4,
        }
    }
}

impl CacheConfig {
    /// Checks the geometry.  `Off` accepts anything.
    pub fn validate(&self) -> Result<(), ConfigError> {
        if self.policy == CachePolicy::Off {
            return Ok(());
        }
        if self.entries == 0 || !self.entries.is_power_of_two() {
            return Err(ConfigError::CacheEntriesNotPowerOfTwo(self.entries));
        }
        if self.entries > MAX_CACHE_ENTRIES {
            return Err(ConfigError::CacheEntriesTooLarge(self.entries));
        }
        if self.ways == 0 || self.ways > MAX_CACHE_WAYS {
            return Err(ConfigError::CacheWaysOutOfRange(self.ways));
        }
        #[allow(clippy::manual_is_multiple_of)] // is_multiple_of is newer than the MSRV (1.81)
        if self.entries % self.ways != 0 {
            return Err(ConfigError::CacheWaysDoNotDivideEntries {
                entries: self.entries,
                ways: self.ways,
            });
        }
        Ok(())
    }
}

#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub(crate) struct Line {
    /// TCE index (IO page number) held by this line.
    pub tag: u32,
    /// Valid while equal to the cache's generation (0 = never valid).
    pub gen: u32,
    /// LRU stamp: larger = more recently used.
    pub stamp: u64,
    /// The cached TCE value.
    pub tce: u64,
}

/// A valid cache line, as exported for snapshots and tests.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct LineImage {
    pub slot: u32,
    pub tag: u32,
    pub stamp: u64,
    pub tce: u64,
}

#[derive(Clone, Debug)]
pub(crate) struct TceCache {
    ways: u32,
    set_mask: u32,
    gen: u32,
    clock: u64,
    /// Bumped by every change of a line's tag or value (insert, flush,
    /// invalidate, set, load): equal epochs mean equal contents.
    epoch: u64,
    lines: Vec<Line>,
}

impl TceCache {
    /// Builds an empty cache.  `cfg` must have been validated; an invalid
    /// geometry degrades to a cache of one line rather than panicking.
    pub fn new(cfg: &CacheConfig) -> Self {
        let (ways, entries) = match cfg.policy {
            CachePolicy::Off => (1, 0),
            _ => {
                if cfg.validate().is_ok() {
                    (cfg.ways, cfg.entries)
                } else {
                    (1, 1)
                }
            }
        };
        let sets = entries.checked_div(ways).unwrap_or(0);
        TceCache {
            ways,
            set_mask: sets.saturating_sub(1),
            gen: 1,
            clock: 0,
            epoch: 0,
            lines: vec![Line::default(); entries as usize],
        }
    }

    /// The contents' epoch (see the field).
    #[inline]
    pub fn epoch(&self) -> u64 {
        self.epoch
    }

    pub fn capacity(&self) -> usize {
        self.lines.len()
    }

    #[inline]
    fn set_range(&self, idx: u32) -> (usize, usize) {
        let set = (idx & self.set_mask) as usize;
        let ways = self.ways as usize;
        let base = set.saturating_mul(ways);
        (base, base.saturating_add(ways))
    }

    /// Slot holding `idx`, if valid.
    #[inline]
    pub fn find(&self, idx: u32) -> Option<usize> {
        let (lo, hi) = self.set_range(idx);
        let gen = self.gen;
        let set = self.lines.get(lo..hi)?;
        set.iter()
            .position(|l| l.gen == gen && l.tag == idx)
            .map(|w| lo + w)
    }

    #[inline]
    pub fn tce_at(&self, slot: usize) -> Option<u64> {
        self.lines.get(slot).map(|l| l.tce)
    }

    /// Marks a slot most recently used.
    #[inline]
    pub fn touch(&mut self, slot: usize) {
        self.clock = self.clock.wrapping_add(1);
        let clock = self.clock;
        if let Some(l) = self.lines.get_mut(slot) {
            l.stamp = clock;
        }
    }

    /// Replaces the cached value of a slot.
    #[inline]
    pub fn set_tce(&mut self, slot: usize, tce: u64) {
        self.epoch = self.epoch.wrapping_add(1);
        if let Some(l) = self.lines.get_mut(slot) {
            l.tce = tce;
        }
    }

    /// Drops one slot.
    #[inline]
    pub fn invalidate_slot(&mut self, slot: usize) {
        self.epoch = self.epoch.wrapping_add(1);
        if let Some(l) = self.lines.get_mut(slot) {
            l.gen = 0;
        }
    }

    /// Inserts `idx -> tce`; returns true if a valid line was evicted.
    #[inline]
    pub fn insert(&mut self, idx: u32, tce: u64) -> bool {
        let (lo, hi) = self.set_range(idx);
        let gen = self.gen;
        self.epoch = self.epoch.wrapping_add(1);
        self.clock = self.clock.wrapping_add(1);
        let clock = self.clock;
        let Some(set) = self.lines.get_mut(lo..hi) else {
            return false;
        };
        // Prefer an invalid way, else the least recently used.
        let mut victim: Option<&mut Line> = None;
        let mut evicted = true;
        for l in set.iter_mut() {
            if l.gen != gen {
                victim = Some(l);
                evicted = false;
                break;
            }
            match &victim {
                Some(v) if v.stamp <= l.stamp => {}
                _ => victim = Some(l),
            }
        }
        match victim {
            Some(v) => {
                *v = Line {
                    tag: idx,
                    gen,
                    stamp: clock,
                    tce,
                };
                evicted
            }
            None => false,
        }
    }

    /// Invalidates every line (O(1) except once every 2^32 flushes).
    pub fn flush(&mut self) {
        self.epoch = self.epoch.wrapping_add(1);
        self.gen = self.gen.wrapping_add(1);
        if self.gen == 0 {
            for l in self.lines.iter_mut() {
                l.gen = 0;
            }
            self.gen = 1;
        }
    }

    /// Valid lines, for snapshots and tests.
    pub fn valid_lines(&self) -> impl Iterator<Item = LineImage> + '_ {
        let gen = self.gen;
        self.lines
            .iter()
            .enumerate()
            .filter(move |(_, l)| l.gen == gen)
            .map(|(i, l)| LineImage {
                slot: i as u32,
                tag: l.tag,
                stamp: l.stamp,
                tce: l.tce,
            })
    }

    pub fn clock(&self) -> u64 {
        self.clock
    }

    /// Whether `line` may sit in `slot` (right set, slot in range).
    pub fn slot_fits(&self, slot: u32, tag: u32) -> bool {
        let (lo, hi) = self.set_range(tag);
        let s = slot as usize;
        s >= lo && s < hi && s < self.lines.len()
    }

    /// Empties the cache and loads lines (restore).  Callers validate with
    /// [`TceCache::slot_fits`] first.
    pub fn load(&mut self, clock: u64, lines: &[LineImage]) {
        for l in self.lines.iter_mut() {
            *l = Line::default();
        }
        self.gen = 1;
        self.clock = clock;
        self.epoch = self.epoch.wrapping_add(1);
        for li in lines {
            if let Some(l) = self.lines.get_mut(li.slot as usize) {
                *l = Line {
                    tag: li.tag,
                    gen: 1,
                    stamp: li.stamp,
                    tce: li.tce,
                };
            }
        }
    }
}
