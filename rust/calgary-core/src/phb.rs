//! One PHB (PCI host bridge): its platform configuration, its register
//! file with the values derived from it (TAR, PHB_CONFIG, MEM windows), its
//! PMCR stop state and its statistics.

use core::fmt;

use crate::cache::TceCache;
use crate::regs::{
    self, PhbConfigBits, PmrBits, RegId, RegInfo, Reset, REGISTERS, REG_COUNT, TAR_SIZE_MASK,
    TAR_TABLE_ADDR_MASK,
};
use crate::{ChipConfig, Direction, Fault, FaultReason, Requester};

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

/// Values derived from registers, recomputed on every write that changes
/// them so that [`Chip::translate`] only reads plain fields.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub(crate) struct Derived {
    pub tce_enable: bool,
    pub slot_disabled: bool,
    pub table_base: u64,
    pub entries: u64,
    /// Inclusive [start, last] of MEM_1 (None when empty).
    pub mem1: Option<(u64, u64)>,
    /// Inclusive [start, last] of MEM_2 when MEM2_ENABLE.
    pub mem2: Option<(u64, u64)>,
}

/// One PHB's state: its registers, latched error, TCE cache, statistics
/// and armed injections. A [`Chip`](crate::Chip) holds four; a host that
/// wants translation on one PHB not to wait for another keeps each under
/// its own lock and runs the per-PHB operations on it
/// ([`Phb::translate`], [`Phb::mmio_read`], [`Phb::mmio_write`] with a
/// [`ChipView`](crate::ChipView)).
#[derive(Clone, Debug)]
pub struct Phb {
    pub(crate) regs: [u64; REG_COUNT],
    pub(crate) latched: Option<Fault>,
    pub(crate) last_fault: Option<Fault>,
    pub(crate) cache: TceCache,
    pub(crate) stats: PhbStats,
    pub(crate) derived: Derived,
    /// The last blocked device access (IO page, direction, requester).
    /// QEMU retries a blocked DMA in small pieces, one translate call each;
    /// repeats of the same page by the same requester count once.
    pub(crate) last_block: Option<(u64, Direction, Requester)>,
    /// Armed fault injections and their counters (`inject.rs`).
    pub(crate) inject: crate::inject::PhbInject,
    /// Translation blocks: where the last device translation ended and the
    /// last block formed (`tce::cached_block`). Not state of the hardware:
    /// never migrated, dropped by every register change.
    pub(crate) blocks: BlockMemo,
}

/// See [`Phb::blocks`].
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub(crate) struct BlockMemo {
    /// The IO page right after the last device translation: a translation
    /// of it continues a DMA, which is when a block is worth forming.
    pub next: u64,
    /// The first IO page of the last block formed and the cache epoch then;
    /// while the epoch holds, every page of it is still cached as it was.
    pub last: Option<(u64, u64)>,
}

impl Phb {
    pub(crate) fn new(cfg: &ChipConfig, pcfg: &PhbConfig) -> Self {
        let mut regs = [0u64; REG_COUNT];
        for (slot, info) in regs.iter_mut().zip(REGISTERS.iter()) {
            *slot = reset_value(info, pcfg);
        }
        let mut p = Phb {
            regs,
            latched: None,
            last_fault: None,
            cache: TceCache::new(&cfg.cache),
            stats: PhbStats::default(),
            derived: Derived::default(),
            last_block: None,
            inject: Default::default(),
            blocks: BlockMemo::default(),
        };
        p.recompute();
        p
    }

    #[inline]
    pub(crate) fn reg(&self, id: RegId) -> u64 {
        self.regs.get(id.index()).copied().unwrap_or(0)
    }

    #[inline]
    pub(crate) fn set_reg(&mut self, id: RegId, v: u64) {
        if let Some(r) = self.regs.get_mut(id.index()) {
            *r = v;
        }
    }

    pub(crate) fn recompute(&mut self) {
        self.blocks = BlockMemo::default();
        let cfg = PhbConfigBits::from_bits_retain(self.reg(RegId::PhbConfigRw) as u32);
        let tar = self.reg(RegId::Tar);
        let mem1_start = (self.reg(RegId::Mem1High) << 32) | self.reg(RegId::Mem1Low);
        let mem1_last = self.reg(RegId::Mem1Size) | 0xF_FFFF;
        let mem2_start = (self.reg(RegId::Mem2High) << 32) | self.reg(RegId::Mem2Low);
        let mem2_last =
            ((self.reg(RegId::Mem2SizeHigh) << 32) | self.reg(RegId::Mem2SizeLow)) | 0xF_FFFF;
        self.derived = Derived {
            tce_enable: cfg.contains(PhbConfigBits::TCE_ENABLE),
            slot_disabled: cfg.intersects(PhbConfigBits::SLOT_DISABLE),
            table_base: tar & TAR_TABLE_ADDR_MASK,
            entries: regs::tce_entries(tar & TAR_SIZE_MASK),
            mem1: (mem1_start <= mem1_last).then_some((mem1_start, mem1_last)),
            mem2: (cfg.contains(PhbConfigBits::MEM2_ENABLE) && mem2_start <= mem2_last)
                .then_some((mem2_start, mem2_last)),
        };
    }

    pub(crate) fn stop_state(&self) -> StopState {
        let v = PmrBits::from_bits_retain(self.reg(RegId::Pmcr) as u32);
        if v.contains(PmrBits::HARDSTOP) {
            StopState::HardStop
        } else if v.contains(PmrBits::SOFTSTOP) {
            StopState::SoftStop
        } else {
            StopState::Running
        }
    }
}

fn reset_value(info: &RegInfo, pcfg: &PhbConfig) -> u64 {
    match info.reset {
        Reset::Value(v) => v,
        Reset::Stuff => u64::from(pcfg.stuff_value()),
        Reset::Mem1Low => pcfg.mem1_start & 0xFFFF_FFFF,
        Reset::Mem1High => pcfg.mem1_start >> 32,
        Reset::Mem1Size => pcfg.mem1_limit & 0xFFFF_FFFF,
    }
}
