//! Plain data types of the public API.

use core::fmt;

/// Which chip is emulated.  Both have the same register layout; they differ
/// in PCI device ID, in the untranslated legacy window (§4 step 3), in the
/// CalIOC2-only registers (PMCR, PMDR, SAVIOR_L2, ROOT_COMPLEX_STATUS) and in
/// the TCE cache flush sequence Linux uses (§5).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Variant {
    /// IBM Calgary, PCI 1014:02a1.
    Calgary,
    /// IBM CalIOC2, PCI 1014:0308.
    CalIoc2,
}

impl Variant {
    /// PCI vendor ID of the PHB function (IBM).
    pub const VENDOR_ID: u16 = 0x1014;

    /// PCI device ID of the PHB function: 0x02a1 (Calgary) or 0x0308
    /// (CalIOC2).  Linux matches on this alone.
    pub fn device_id(self) -> u16 {
        match self {
            Variant::Calgary => 0x02a1,
            Variant::CalIoc2 => 0x0308,
        }
    }

    /// Name as Linux prints it ("Calgary" / "CalIOC2").
    pub fn name(self) -> &'static str {
        match self {
            Variant::Calgary => "Calgary",
            Variant::CalIoc2 => "CalIOC2",
        }
    }

    /// Start of the legacy IO-address window that is never translated
    /// (§4 step 3): 640 KiB on Calgary, 0 on CalIOC2.  The window ends at
    /// 1 MiB (exclusive) on both.
    pub fn legacy_window_start(self) -> u64 {
        match self {
            Variant::Calgary => 640 * 1024,
            Variant::CalIoc2 => 0,
        }
    }

    pub(crate) fn to_byte(self) -> u8 {
        match self {
            Variant::Calgary => 0,
            Variant::CalIoc2 => 1,
        }
    }

    pub(crate) fn from_byte(b: u8) -> Option<Self> {
        match b {
            0 => Some(Variant::Calgary),
            1 => Some(Variant::CalIoc2),
            _ => None,
        }
    }
}

impl fmt::Display for Variant {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// End (exclusive) of the legacy untranslated window, both variants.
pub const LEGACY_WINDOW_END: u64 = 1 << 20;

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
        #[allow(clippy::manual_is_multiple_of)] // MSRV 1.80
        if self.entries % self.ways != 0 {
            return Err(ConfigError::CacheWaysDoNotDivideEntries {
                entries: self.entries,
                ways: self.ways,
            });
        }
        Ok(())
    }
}

/// Reset values that tie one PHB to the platform.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct PhbConfig {
    /// First PCI bus number behind this PHB (STUFF bits 23..16).
    pub first_bus: u8,
    /// Last bus number; equal to `first_bus` (or 0) for a single bus.
    /// STUFF bits 15..8 hold it, `first_bus` for a single bus.
    pub last_bus: u8,
    /// Reset value of the MEM_1 window start (MEM_1_HIGH:MEM_1_LOW).
    pub mem1_start: u64,
    /// Reset value of the MEM_1 window limit (MEM_1_SIZE): the last address
    /// of the window; Linux ORs in 0xFFFFF (1 MiB granular).  Must fit in
    /// 32 bits: no window ends above 4 GiB (§3 model decision).
    pub mem1_limit: u64,
}

impl PhbConfig {
    /// The PHB debug STUFF register value for this bus range (§2): bits
    /// 23..16 the first bus, bits 15..8 the last bus, **equal to the first
    /// for a single bus**.  Linux 2.6.20–2.6.22 walk `start..=end` and leave
    /// the PHB unmapped (then oops) when the end byte is 0; 2.6.23+ read an
    /// end byte of 0 as "single bus" and otherwise walk the same range, so
    /// last = first suits every version.
    pub fn stuff_value(&self) -> u32 {
        let last = if self.last_bus == 0 {
            self.first_bus
        } else {
            self.last_bus
        };
        (u32::from(self.first_bus) << 16) | (u32::from(last) << 8)
    }
}

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

/// Guest physical memory as the TCE fetch sees it.
pub trait GuestMemory {
    /// Reads 8 bytes at `addr` and returns them as a big-endian u64, or
    /// `None` if the read failed (unbacked, MMIO error...).  A failed read
    /// blocks the DMA with [`FaultReason::TceReadFailed`].
    fn read_u64_be(&self, addr: u64) -> Option<u64>;

    /// Reads the `TCE_LINE` consecutive big-endian TCEs of one 64-byte,
    /// 64-byte aligned line at `addr` (TCE line fill); `false` if the read
    /// failed. The default reads them one by one.
    fn read_tce_line(&self, addr: u64, out: &mut [u64; TCE_LINE]) -> bool {
        for (i, slot) in out.iter_mut().enumerate() {
            let Some(a) = addr.checked_add(8 * i as u64) else {
                return false;
            };
            match self.read_u64_be(a) {
                Some(v) => *slot = v,
                None => return false,
            }
        }
        true
    }
}

/// TCEs per cache line when line fill is on (one 64-byte line).
pub const TCE_LINE: usize = 8;

/// Direction of a DMA, from the device's point of view.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Direction {
    /// Device reads memory (DMA to the device): needs the TCE read bit.
    Read,
    /// Device writes memory: needs the TCE write bit.
    Write,
}

impl fmt::Display for Direction {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Direction::Read => "read",
            Direction::Write => "write",
        })
    }
}

/// Who is asking for a translation.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Access {
    /// A real DMA of a device: counted, may latch an error in CSR, may
    /// fill the TCE cache.
    Device,
    /// QEMU's own look-up (IOMMU_NONE, replay, validity check).  Never
    /// latches CSR, never counts as blocked, never changes the cache
    /// (a miss reads memory but does not fill).  The direction check is
    /// skipped: a probe of a TCE with at least one permission bit succeeds
    /// and the returned [`Translation`] carries the TCE's read/write bits;
    /// a TCE with no permission bit still faults with `NotValid`.
    Probe,
}

/// PCI requester ID of the DMA.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Default)]
pub struct Requester {
    /// Bus number.
    pub bus: u8,
    /// Device/function (slot << 3 | function).
    pub devfn: u8,
}

impl fmt::Display for Requester {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{:02x}:{:02x}.{}",
            self.bus,
            self.devfn >> 3,
            self.devfn & 7
        )
    }
}

/// How an address got through.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum XlateKind {
    /// Through a TCE.
    Translated,
    /// Translation is off on this PHB (TCE_ENABLE clear): identity.
    Bypass,
    /// Inside an untranslated window (legacy 640K/0..1M, MEM_1, MEM_2):
    /// identity.
    Window,
}

/// A successful translation of one IO address.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Translation {
    /// Physical address of `io_addr` itself (page offset included).
    pub phys: u64,
    /// `io_addr & !addr_mask ..= io_addr | addr_mask` translates to
    /// `phys & !addr_mask ..` with the same permissions.  0xfff for a TCE
    /// page and for bypass; for a window page, 0xfff if the whole 4 KiB page
    /// lies inside the window, else 0 (one byte).
    pub addr_mask: u64,
    /// The device may read memory through this mapping.
    pub read: bool,
    /// The device may write memory through this mapping.
    pub write: bool,
    /// How it was resolved.
    pub kind: XlateKind,
}

/// Why a DMA was blocked.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum FaultReason {
    /// PHB_CONFIG_RW has a SLOT_DISABLE bit set (§4 step 1).
    SlotDisabled,
    /// IO page index >= table entries (§4 step 4).
    OutOfRange,
    /// The TCE could not be read from guest memory (§4 step 5).
    TceReadFailed,
    /// The TCE has no permission bit at all (never mapped, or freed).
    NotValid,
    /// Device write through a TCE that only allows reads.
    ReadOnly,
    /// Device read through a TCE that only allows writes.
    WriteOnly,
}

impl FaultReason {
    /// All reasons, in code order.
    pub const ALL: [FaultReason; 6] = [
        FaultReason::SlotDisabled,
        FaultReason::OutOfRange,
        FaultReason::TceReadFailed,
        FaultReason::NotValid,
        FaultReason::ReadOnly,
        FaultReason::WriteOnly,
    ];

    /// The 4-bit code stored in CSR bits 30..27 (1..=6).
    pub fn code(self) -> u8 {
        match self {
            FaultReason::SlotDisabled => 1,
            FaultReason::OutOfRange => 2,
            FaultReason::TceReadFailed => 3,
            FaultReason::NotValid => 4,
            FaultReason::ReadOnly => 5,
            FaultReason::WriteOnly => 6,
        }
    }

    /// Inverse of [`FaultReason::code`].
    pub fn from_code(c: u8) -> Option<Self> {
        match c {
            1 => Some(FaultReason::SlotDisabled),
            2 => Some(FaultReason::OutOfRange),
            3 => Some(FaultReason::TceReadFailed),
            4 => Some(FaultReason::NotValid),
            5 => Some(FaultReason::ReadOnly),
            6 => Some(FaultReason::WriteOnly),
            _ => None,
        }
    }

    /// Short name, for logs.
    pub fn as_str(self) -> &'static str {
        match self {
            FaultReason::SlotDisabled => "slot disabled",
            FaultReason::OutOfRange => "IO address beyond TCE table",
            FaultReason::TceReadFailed => "TCE read failed",
            FaultReason::NotValid => "TCE not valid (no permission)",
            FaultReason::ReadOnly => "write to read-only TCE",
            FaultReason::WriteOnly => "read from write-only TCE",
        }
    }
}

impl fmt::Display for FaultReason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A blocked DMA (a translation that produced no address).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Fault {
    /// PHB index 0..3.
    pub phb: u8,
    /// The IO (bus) address the device used.
    pub io_addr: u64,
    /// Direction of the DMA.
    pub dir: Direction,
    /// Who did it.
    pub requester: Requester,
    /// Why it was blocked.
    pub reason: FaultReason,
    /// True only for the device access that latched this error into CSR
    /// (the FFI logs once per latched error).  Always false for probes.
    pub newly_latched: bool,
}

impl fmt::Display for Fault {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "DMA {} blocked on PHB {}: device {} io address {:#x}: {}",
            self.dir, self.phb, self.requester, self.io_addr, self.reason
        )
    }
}

/// What kind of guest error an MMIO access was.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum GuestErrorKind {
    /// No register at this offset (for this variant).
    UnknownOffset,
    /// A register is there but not of this access width (or the size is
    /// not 1/2/4/8).
    BadWidth,
    /// Write to a read-only register; ignored.
    ReadOnly,
    /// A value the register does not accept (e.g. nonzero write to CSR);
    /// ignored.
    ValueIgnored,
}

impl fmt::Display for GuestErrorKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            GuestErrorKind::UnknownOffset => "unknown register offset",
            GuestErrorKind::BadWidth => "bad access width",
            GuestErrorKind::ReadOnly => "write to read-only register",
            GuestErrorKind::ValueIgnored => "written value ignored",
        })
    }
}

/// Something the FFI should log or trace after an MMIO access (after
/// dropping its lock).  At most one per access; see `Chip::mmio_write` for
/// the priority when several happen at once.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum MmioEvent {
    /// A guest error (`-d guest_errors`): the access read 0 / was ignored.
    GuestError {
        /// offset in the 1 MiB window
        offset: u64,
        /// access size in bytes
        size: u32,
        /// write (true) or read
        write: bool,
        /// what was wrong
        kind: GuestErrorKind,
    },
    /// A TAR write invalidated this PHB's TCE cache.
    CacheFlushed {
        /// PHB index
        phb: u8,
    },
    /// The guest wrote 0 to CSR while an error was latched.
    ErrorCleared {
        /// PHB index
        phb: u8,
    },
    /// TCE_ENABLE changed in PHB_CONFIG_RW.
    TranslationEnabled {
        /// PHB index
        phb: u8,
        /// new state
        on: bool,
    },
    /// SLOT_DISABLE bits went from clear to set (or back) in PHB_CONFIG_RW.
    SlotDisabled {
        /// PHB index
        phb: u8,
        /// new state
        on: bool,
    },
    /// CalIOC2 page-migration unit changed state (PMCR).
    StopState {
        /// PHB index
        phb: u8,
        /// new state
        state: StopState,
    },
}

impl fmt::Display for MmioEvent {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match *self {
            MmioEvent::GuestError {
                offset,
                size,
                write,
                kind,
            } => write!(
                f,
                "calgary: {kind}: {} of size {size} at offset {offset:#x}",
                if write { "write" } else { "read" }
            ),
            MmioEvent::CacheFlushed { phb } => write!(f, "calgary: PHB {phb}: TCE cache flushed"),
            MmioEvent::ErrorCleared { phb } => {
                write!(f, "calgary: PHB {phb}: latched DMA error cleared")
            }
            MmioEvent::TranslationEnabled { phb, on } => write!(
                f,
                "calgary: PHB {phb}: translation {}",
                if on { "enabled" } else { "disabled" }
            ),
            MmioEvent::SlotDisabled { phb, on } => write!(
                f,
                "calgary: PHB {phb}: slots {}",
                if on { "disabled" } else { "enabled" }
            ),
            MmioEvent::StopState { phb, state } => {
                write!(f, "calgary: PHB {phb}: page migration {state}")
            }
        }
    }
}

/// CalIOC2 page-migration (PMCR) state, §5.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Default)]
pub enum StopState {
    /// Normal operation.
    #[default]
    Running,
    /// SoftStop requested (PMCR bit 31 written).
    SoftStop,
    /// HardStop (entered by reading PMCR while in SoftStop).
    HardStop,
}

impl fmt::Display for StopState {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            StopState::Running => "running",
            StopState::SoftStop => "soft stop",
            StopState::HardStop => "hard stop",
        })
    }
}

/// Per-PHB statistics.  Plain counters, wrapping never expected (u64).
/// Only [`Access::Device`] translations are counted, except `probes`.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct PhbStats {
    /// Device DMA pages that were resolved through a TCE (success).
    pub translations: u64,
    /// TCE cache hits (Coherent/Faithful).
    pub cache_hits: u64,
    /// TCE cache misses (Coherent/Faithful).
    pub cache_misses: u64,
    /// Coherent only: hits whose cached TCE differed from memory (real
    /// hardware would have used the stale value).
    pub stale_hits: u64,
    /// TCE reads from guest memory (including re-validations in Coherent).
    pub tce_fetches: u64,
    /// Valid cache lines replaced to make room.
    pub cache_evictions: u64,
    /// Cache invalidations (TAR writes).
    pub flushes: u64,
    /// Blocked: SLOT_DISABLE.
    pub blocked_slot_disabled: u64,
    /// Blocked: beyond the table.
    pub blocked_out_of_range: u64,
    /// Blocked: TCE read failed.
    pub blocked_tce_read_failed: u64,
    /// Blocked: TCE without permission.
    pub blocked_not_valid: u64,
    /// Blocked: write to read-only TCE.
    pub blocked_read_only: u64,
    /// Blocked: read from write-only TCE.
    pub blocked_write_only: u64,
    /// DMAs passed through because translation was off.
    pub bypassed: u64,
    /// DMAs passed through an untranslated window.
    pub window: u64,
    /// Errors latched into CSR.
    pub errors_latched: u64,
    /// Probe (QEMU-internal) look-ups.
    pub probes: u64,
}

impl PhbStats {
    /// Blocked DMAs of one reason.
    pub fn blocked(&self, reason: FaultReason) -> u64 {
        match reason {
            FaultReason::SlotDisabled => self.blocked_slot_disabled,
            FaultReason::OutOfRange => self.blocked_out_of_range,
            FaultReason::TceReadFailed => self.blocked_tce_read_failed,
            FaultReason::NotValid => self.blocked_not_valid,
            FaultReason::ReadOnly => self.blocked_read_only,
            FaultReason::WriteOnly => self.blocked_write_only,
        }
    }

    /// All blocked DMAs.
    pub fn blocked_total(&self) -> u64 {
        FaultReason::ALL
            .iter()
            .fold(0u64, |acc, r| acc.saturating_add(self.blocked(*r)))
    }

    pub(crate) fn count_blocked(&mut self, reason: FaultReason) {
        let c = match reason {
            FaultReason::SlotDisabled => &mut self.blocked_slot_disabled,
            FaultReason::OutOfRange => &mut self.blocked_out_of_range,
            FaultReason::TceReadFailed => &mut self.blocked_tce_read_failed,
            FaultReason::NotValid => &mut self.blocked_not_valid,
            FaultReason::ReadOnly => &mut self.blocked_read_only,
            FaultReason::WriteOnly => &mut self.blocked_write_only,
        };
        *c = c.wrapping_add(1);
    }

    /// Field values in a fixed order (snapshot format, tests).
    pub fn to_array(&self) -> [u64; 17] {
        [
            self.translations,
            self.cache_hits,
            self.cache_misses,
            self.stale_hits,
            self.tce_fetches,
            self.cache_evictions,
            self.flushes,
            self.blocked_slot_disabled,
            self.blocked_out_of_range,
            self.blocked_tce_read_failed,
            self.blocked_not_valid,
            self.blocked_read_only,
            self.blocked_write_only,
            self.bypassed,
            self.window,
            self.errors_latched,
            self.probes,
        ]
    }

    /// Inverse of [`PhbStats::to_array`].
    pub fn from_array(a: [u64; 17]) -> Self {
        let [translations, cache_hits, cache_misses, stale_hits, tce_fetches, cache_evictions, flushes, blocked_slot_disabled, blocked_out_of_range, blocked_tce_read_failed, blocked_not_valid, blocked_read_only, blocked_write_only, bypassed, window, errors_latched, probes] =
            a;
        PhbStats {
            translations,
            cache_hits,
            cache_misses,
            stale_hits,
            tce_fetches,
            cache_evictions,
            flushes,
            blocked_slot_disabled,
            blocked_out_of_range,
            blocked_tce_read_failed,
            blocked_not_valid,
            blocked_read_only,
            blocked_write_only,
            bypassed,
            window,
            errors_latched,
            probes,
        }
    }
}
