//! A chip's configuration (what the platform fixes at creation) and the
//! errors that reject one.

use core::fmt;

use crate::{CacheConfig, PhbConfig, Variant, MAX_CACHE_ENTRIES, MAX_CACHE_WAYS};

/// Everything needed to create a [`Chip`](crate::Chip).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ChipConfig {
    /// Calgary or CalIOC2.
    pub variant: Variant,
    /// Physical address of the 1 MiB register window: nonzero, 1 MiB
    /// aligned, below 4 GiB (it is a u32).
    pub bbar: u32,
    /// Chassis number written into the Rio table (1 = boot node).
    pub chassis: u8,
    /// Per-PHB reset values.
    pub phbs: [PhbConfig; 4],
    /// TCE cache of every PHB.
    pub cache: CacheConfig,
}

impl ChipConfig {
    /// Checks the whole configuration.
    pub fn validate(&self) -> Result<(), ConfigError> {
        if self.bbar == 0 || u64::from(self.bbar) % crate::CHIP_WINDOW_SIZE != 0 {
            return Err(ConfigError::BbarNotAligned(self.bbar));
        }
        for (i, p) in self.phbs.iter().enumerate() {
            let phb = i as u8;
            if p.last_bus != 0 && p.last_bus < p.first_bus {
                return Err(ConfigError::BusRange {
                    phb,
                    first: p.first_bus,
                    last: p.last_bus,
                });
            }
            if p.mem1_limit > u64::from(u32::MAX) {
                return Err(ConfigError::Mem1LimitAbove4G {
                    phb,
                    limit: p.mem1_limit,
                });
            }
            if p.mem1_start > p.mem1_limit {
                return Err(ConfigError::Mem1StartAboveLimit {
                    phb,
                    start: p.mem1_start,
                    limit: p.mem1_limit,
                });
            }
        }
        self.cache.validate()
    }
}

/// A rejected configuration.  `Display` is one line naming the property.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ConfigError {
    /// Cache entries not a nonzero power of two.
    CacheEntriesNotPowerOfTwo(u32),
    /// Cache entries above [`MAX_CACHE_ENTRIES`].
    CacheEntriesTooLarge(u32),
    /// Ways zero or above [`MAX_CACHE_WAYS`].
    CacheWaysOutOfRange(u32),
    /// Ways do not divide entries.
    CacheWaysDoNotDivideEntries {
        /// configured entries
        entries: u32,
        /// configured ways
        ways: u32,
    },
    /// BBAR zero or not 1 MiB aligned.
    BbarNotAligned(u32),
    /// last_bus below first_bus.
    BusRange {
        /// PHB index
        phb: u8,
        /// first bus
        first: u8,
        /// last bus
        last: u8,
    },
    /// MEM_1 limit does not fit in the 32-bit MEM_1_SIZE register.
    Mem1LimitAbove4G {
        /// PHB index
        phb: u8,
        /// configured limit
        limit: u64,
    },
    /// MEM_1 start above its limit.
    Mem1StartAboveLimit {
        /// PHB index
        phb: u8,
        /// configured start
        start: u64,
        /// configured limit
        limit: u64,
    },
}

impl fmt::Display for ConfigError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match *self {
            ConfigError::CacheEntriesNotPowerOfTwo(e) => {
                write!(f, "cache entries must be a nonzero power of two (got {e})")
            }
            ConfigError::CacheEntriesTooLarge(e) => write!(
                f,
                "cache entries must be at most {MAX_CACHE_ENTRIES} (got {e})"
            ),
            ConfigError::CacheWaysOutOfRange(w) => write!(
                f,
                "cache ways must be between 1 and {MAX_CACHE_WAYS} (got {w})"
            ),
            ConfigError::CacheWaysDoNotDivideEntries { entries, ways } => write!(
                f,
                "cache ways must divide cache entries (ways {ways}, entries {entries})"
            ),
            ConfigError::BbarNotAligned(b) => write!(
                f,
                "bbar must be a nonzero 1 MiB aligned address (got {b:#x})"
            ),
            ConfigError::BusRange { phb, first, last } => write!(
                f,
                "phb {phb}: last_bus {last:#x} is below first_bus {first:#x}"
            ),
            ConfigError::Mem1LimitAbove4G { phb, limit } => write!(
                f,
                "phb {phb}: mem1_limit {limit:#x} must not exceed 0xffffffff"
            ),
            ConfigError::Mem1StartAboveLimit { phb, start, limit } => write!(
                f,
                "phb {phb}: mem1_start {start:#x} is above mem1_limit {limit:#x}"
            ),
        }
    }
}

impl std::error::Error for ConfigError {}
