//! One Calgary / CalIOC2 chip: its PHBs, register access and the chip-level
//! entry points; the translation of a DMA itself is in `tce.rs`.

use crate::diag::{self, ChipName};
use crate::phb::Phb;
use crate::regs::{self, decode, Behaviour, PhbConfigBits, PmrBits, RegId, RegInfo, Width};
use crate::{
    Access, CachePolicy, ChipConfig, ConfigError, Direction, Fault, FaultReason, GuestErrorKind,
    GuestMemory, MmioEvent, PhbConfig, PhbStats, Requester, StopState, Translation, Variant,
    PHBS_PER_CHIP,
};

/// Which part of a register an access covers.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Part {
    Full,
    /// Upper 32 bits of a 64-bit register (the lower offset).
    High,
    /// Lower 32 bits of a 64-bit register (offset + 4).
    Low,
}

fn part_of(width: Width, byte: u64, size: u32) -> Option<Part> {
    match (width, byte, size) {
        (Width::W32, 0, 4) | (Width::W64, 0, 8) => Some(Part::Full),
        (Width::W64, 0, 4) => Some(Part::High),
        (Width::W64, 4, 4) => Some(Part::Low),
        _ => None,
    }
}

/// One chip: 4 PHBs and the chip-wide CALGARY_CONFIG.
///
/// All methods take `&mut self` and never panic; the FFI wraps each chip in
/// one lock.
#[derive(Clone, Debug)]
pub struct Chip {
    pub(crate) cfg: ChipConfig,
    pub(crate) phbs: [Phb; PHBS_PER_CHIP],
    /// Faithful cache: fill a whole 64-byte line of TCEs per miss.
    pub(crate) line_fill: bool,
    /// Faithful cache: a translation may cover a wholly cached block.
    pub(crate) blocks: bool,
    /// Name in diagnostics (not guest-visible state).
    pub(crate) name: Option<Box<str>>,
}

impl Chip {
    /// TCE line fill (model decision, off by default): with the Faithful
    /// cache, a miss reads the whole aligned 64-byte line (8 TCEs) in one
    /// memory access and caches every valid TCE of it. Invalid TCEs are
    /// never cached, so §5's contract holds: a new TCE is seen without a
    /// flush, a freed one may translate until the next flush. Not part of
    /// the guest-visible state (a platform setting, like the geometry).
    pub fn set_line_fill(&mut self, on: bool) {
        self.line_fill = on;
    }

    /// Whether TCE line fill is on.
    pub fn line_fill(&self) -> bool {
        self.line_fill
    }

    /// Translation blocks (model decision, on by default; `MODEL.md`
    /// "Translation blocks"): with the Faithful cache, a device translation
    /// whose naturally aligned 64 KiB block is wholly cached, contiguous
    /// and of one permission returns the block instead of one page, so
    /// that QEMU maps a large DMA with one call per block. The addresses a
    /// DMA reaches are the same either way; the statistics count calls.
    pub fn set_blocks(&mut self, on: bool) {
        self.blocks = on;
    }

    /// Whether translation blocks are on.
    pub fn blocks(&self) -> bool {
        self.blocks
    }

    /// Creates a chip in its reset state.
    pub fn new(cfg: ChipConfig) -> Result<Chip, ConfigError> {
        cfg.validate()?;
        let phbs = [
            Phb::new(&cfg, &cfg.phbs[0]),
            Phb::new(&cfg, &cfg.phbs[1]),
            Phb::new(&cfg, &cfg.phbs[2]),
            Phb::new(&cfg, &cfg.phbs[3]),
        ];
        Ok(Chip {
            cfg,
            phbs,
            line_fill: false,
            blocks: true,
            name: None,
        })
    }

    /// The chip-level values operations on one PHB need ([`ChipView`]).
    pub fn view(&self) -> ChipView<'_> {
        ChipView::new(&self.cfg, self.line_fill, self.blocks, self.name.as_deref())
    }

    /// The view and the PHBs at once (disjoint borrows), for the operations
    /// that run one PHB's method with the chip's view.
    fn parts(&mut self) -> (ChipView<'_>, &mut [Phb; PHBS_PER_CHIP]) {
        let view = ChipView::new(&self.cfg, self.line_fill, self.blocks, self.name.as_deref());
        (view, &mut self.phbs)
    }

    /// PHB `phb`'s state.
    pub fn phb(&self, phb: usize) -> Option<&Phb> {
        self.phbs.get(phb)
    }

    /// Exchanges PHB `phb`'s state with `other` (false, nothing exchanged,
    /// when `phb` is out of range). A host that keeps each PHB under its
    /// own lock moves the PHBs in for an operation on the whole chip
    /// (snapshot, reset, injection, statistics) and back out after it.
    pub fn swap_phb(&mut self, phb: usize, other: &mut Phb) -> bool {
        match self.phbs.get_mut(phb) {
            Some(p) => {
                core::mem::swap(p, other);
                true
            }
            None => false,
        }
    }

    /// The configuration the chip was built with.
    pub fn config(&self) -> &ChipConfig {
        &self.cfg
    }

    /// The variant.
    pub fn variant(&self) -> Variant {
        self.cfg.variant
    }

    /// Back to the reset state of §3: translation off, no error latched,
    /// split queues idle, TAR 0, MEM_1 from the PhbConfig, caches empty.
    /// Statistics are kept (they are the model's, not the guest's).
    pub fn reset(&mut self) {
        diag::reset(self.name());
        for (i, p) in self.phbs.iter_mut().enumerate() {
            let stats = p.stats;
            let mut inject = p.inject;
            inject.reset();
            let pcfg = self.cfg.phbs.get(i).copied().unwrap_or(PhbConfig {
                first_bus: 0,
                last_bus: 0,
                mem1_start: 0,
                mem1_limit: 0,
            });
            *p = Phb::new(&self.cfg, &pcfg);
            p.stats = stats;
            p.inject = inject;
        }
    }

    // -----------------------------------------------------------------
    // MMIO
    // -----------------------------------------------------------------

    fn guest_error(offset: u64, size: u32, write: bool, kind: GuestErrorKind) -> MmioEvent {
        MmioEvent::GuestError {
            offset,
            size,
            write,
            kind,
        }
    }

    /// Locates the register for an access, or the guest error to report.
    fn locate(
        &self,
        offset: u64,
        size: u32,
        write: bool,
    ) -> Result<(&'static RegInfo, usize, Part), MmioEvent> {
        locate(self.cfg.variant, offset, size, write).map(|t| (t.reg, t.phb, t.part))
    }

    fn phb_slot(&self, reg: &RegInfo, phb: usize) -> usize {
        match reg.placement {
            regs::Placement::Chip => 0,
            regs::Placement::PerPhb { .. } => phb,
        }
    }

    /// Current full value of a register, without side effects.
    fn peek_reg(&self, reg: &RegInfo, phb: usize) -> u64 {
        let slot = self.phb_slot(reg, phb);
        self.phbs.get(slot).map(|p| p.reg(reg.id)).unwrap_or(0)
    }

    /// Guest read.  `size` is 1, 2, 4 or 8 bytes; the value is numeric as
    /// the big-endian register holds it (for a 4-byte half of a 64-bit
    /// register: that half's 32 bits).  Unknown offsets and wrong widths
    /// read 0 and return a `GuestError` event.
    ///
    /// Side effect: a read of PMCR in SoftStop moves the PHB to HardStop
    /// (and the value returned already shows HardStop).
    pub fn mmio_read(&mut self, offset: u64, size: u32) -> (u64, Option<MmioEvent>) {
        let (view, phbs) = self.parts();
        let t = match view.mmio_locate(offset, size, false) {
            Ok(t) => t,
            Err(ev) => return (0, Some(ev)),
        };
        match phbs.get_mut(t.phb) {
            Some(p) => p.mmio_read(view, &t),
            None => (0, None),
        }
    }

    /// Side-effect-free read for debuggers and the monitor: `None` where a
    /// guest read would be a guest error.
    pub fn mmio_peek(&self, offset: u64, size: u32) -> Option<u64> {
        let (reg, phb, part) = self.locate(offset, size, false).ok()?;
        let full = self.peek_reg(reg, phb);
        let full = match self.phbs.get(phb) {
            Some(p) => crate::inject::peek(p, reg.id, full),
            None => full,
        };
        Some(match part {
            Part::Full => full,
            Part::High => full >> 32,
            Part::Low => full & 0xFFFF_FFFF,
        })
    }

    /// Guest write; see [`mmio_read`](Self::mmio_read) for sizes and values.
    ///
    /// Side effects: TAR write (either half) flushes that PHB's TCE cache
    /// (`CacheFlushed`); CSR write of 0 clears the latched error
    /// (`ErrorCleared`, only if one was latched; nonzero values are ignored
    /// with a `ValueIgnored` guest error); PHB_CONFIG_RW reports
    /// `TranslationEnabled` when TCE_ENABLE changes, else `SlotDisabled`
    /// when the slot-disable bits go from none to some or back; PMCR reports
    /// `StopState` changes.  Writes to read-only registers are ignored
    /// (`ReadOnly`).
    pub fn mmio_write(&mut self, offset: u64, size: u32, value: u64) -> Option<MmioEvent> {
        let (view, phbs) = self.parts();
        let t = match view.mmio_locate(offset, size, true) {
            Ok(t) => t,
            Err(ev) => return Some(ev),
        };
        phbs.get_mut(t.phb)?.mmio_write(view, &t, value)
    }

    /// Names the chip in its diagnostics (`log` records), e.g. `calgary0`;
    /// without a name a chip calls itself by its BBAR, `calgary@0xfef00000`.
    pub fn set_name(&mut self, name: &str) {
        self.name = Some(name.into());
    }

    /// How this chip names itself in diagnostics.
    pub(crate) fn name(&self) -> ChipName<'_> {
        ChipName {
            name: self.name.as_deref(),
            bbar: self.cfg.bbar,
        }
    }

    // -----------------------------------------------------------------
    // Translation
    // -----------------------------------------------------------------

    /// Translates one IO address of a DMA on PHB `phb` (§4), per 4 KiB page.
    ///
    /// Steps, in order: (1) SLOT_DISABLE blocks; (2) TCE_ENABLE clear:
    /// bypass; (3) legacy window (Calgary 640 KiB..1 MiB, CalIOC2 0..1 MiB),
    /// MEM_1, and MEM_2 when MEM2_ENABLE: untranslated; (4) page index
    /// beyond the TAR's table size blocks; (5) TCE fetch (through the cache
    /// policy) and permission check; (6) page frame | page offset.
    ///
    /// A [`Access::Device`] fault is counted and latches CSR/PLSSR if no
    /// error is latched yet (`newly_latched` tells which access did).
    /// [`Access::Probe`] never latches, counts only `probes`, and leaves
    /// the cache untouched.  A `phb` out of range yields an `OutOfRange`
    /// fault that latches nothing.
    ///
    /// Does not allocate or format.
    #[inline]
    pub fn translate(
        &mut self,
        phb: usize,
        io_addr: u64,
        dir: Direction,
        access: Access,
        req: Requester,
        mem: &dyn GuestMemory,
    ) -> Result<Translation, Fault> {
        let (view, phbs) = self.parts();
        let Some(p) = phbs.get_mut(phb) else {
            return Err(Fault {
                phb: u8::try_from(phb).unwrap_or(u8::MAX),
                io_addr,
                dir,
                requester: req,
                reason: FaultReason::OutOfRange,
                newly_latched: false,
            });
        };
        p.translate(view, phb, io_addr, dir, access, req, mem)
    }

    // -----------------------------------------------------------------
    // Accessors
    // -----------------------------------------------------------------

    /// Statistics of a PHB.
    pub fn stats(&self, phb: usize) -> Option<PhbStats> {
        self.phbs.get(phb).map(|p| p.stats)
    }

    /// Resets a PHB's statistics.
    pub fn clear_stats(&mut self, phb: usize) {
        if let Some(p) = self.phbs.get_mut(phb) {
            p.stats = PhbStats::default();
        }
    }

    /// CSR value of a PHB (0 if `phb` is out of range).
    pub fn phb_csr(&self, phb: usize) -> u32 {
        self.phbs
            .get(phb)
            .map(|p| p.reg(RegId::Csr) as u32)
            .unwrap_or(0)
    }

    /// PLSSR value of a PHB.
    pub fn phb_plssr(&self, phb: usize) -> u32 {
        self.phbs
            .get(phb)
            .map(|p| p.reg(RegId::Plssr) as u32)
            .unwrap_or(0)
    }

    /// The fault that most recently latched CSR on this PHB, kept after the
    /// guest clears CSR (so it can still be shown after Linux's watchdog
    /// cleared it).  Cleared by [`reset`](Self::reset).
    pub fn last_fault(&self, phb: usize) -> Option<Fault> {
        self.phbs.get(phb).and_then(|p| p.last_fault)
    }

    /// The fault currently latched in CSR (None once the guest wrote 0).
    pub fn latched_fault(&self, phb: usize) -> Option<Fault> {
        self.phbs.get(phb).and_then(|p| p.latched)
    }

    /// Raw value of a register of a PHB (chip-wide registers: any phb).
    pub fn reg(&self, phb: usize, id: RegId) -> u64 {
        self.peek_reg(id.info(), phb)
    }

    /// TAR of a PHB.
    pub fn tar(&self, phb: usize) -> u64 {
        self.reg(phb, RegId::Tar)
    }

    /// Whether TCE_ENABLE is set on a PHB.
    pub fn translation_enabled(&self, phb: usize) -> bool {
        self.phbs
            .get(phb)
            .map(|p| p.derived.tce_enable)
            .unwrap_or(false)
    }

    /// CalIOC2 page-migration state of a PHB.
    pub fn stop_state(&self, phb: usize) -> StopState {
        self.phbs
            .get(phb)
            .map(|p| p.stop_state())
            .unwrap_or_default()
    }

    /// Valid lines in a PHB's TCE cache.
    pub fn cache_occupancy(&self, phb: usize) -> usize {
        self.phbs
            .get(phb)
            .map(|p| p.cache.valid_lines().count())
            .unwrap_or(0)
    }

    /// Number of TCE entries of a PHB's table (from TAR's size code).
    pub fn table_entries(&self, phb: usize) -> u64 {
        self.phbs.get(phb).map(|p| p.derived.entries).unwrap_or(0)
    }
}

/// The chip-level values an operation on one PHB reads: the variant, the
/// cache policy, line fill and the chip's name in diagnostics, all fixed
/// when the chip is made. With it, a host can keep each [`Phb`] under its
/// own lock and translate or access registers of one PHB without touching
/// the others ([`Phb::translate`], [`Phb::mmio_read`], [`Phb::mmio_write`]).
#[derive(Clone, Copy, Debug)]
pub struct ChipView<'a> {
    pub(crate) variant: Variant,
    pub(crate) policy: CachePolicy,
    bbar: u32,
    pub(crate) line_fill: bool,
    pub(crate) blocks: bool,
    name: Option<&'a str>,
}

impl<'a> ChipView<'a> {
    /// The view of a chip made with `cfg`, line fill `line_fill`
    /// ([`Chip::line_fill`]), translation blocks `blocks`
    /// ([`Chip::blocks`]) and diagnostics name `name`.
    pub fn new(cfg: &ChipConfig, line_fill: bool, blocks: bool, name: Option<&'a str>) -> Self {
        ChipView {
            variant: cfg.variant,
            policy: cfg.cache.policy,
            bbar: cfg.bbar,
            line_fill,
            blocks,
            name,
        }
    }

    pub(crate) fn name(&self) -> ChipName<'a> {
        ChipName {
            name: self.name,
            bbar: self.bbar,
        }
    }

    /// Decodes an MMIO access at `offset` of the chip window: the register
    /// and the one PHB whose state it reads or writes (PHB 0's for the
    /// chip-wide registers), or the guest error to report (logged here).
    pub fn mmio_locate(
        &self,
        offset: u64,
        size: u32,
        write: bool,
    ) -> Result<MmioTarget, MmioEvent> {
        let r = locate(self.variant, offset, size, write);
        if let Err(ev) = &r {
            diag::mmio_guest_error(self.name(), self.variant, ev);
        }
        r
    }
}

/// A decoded MMIO access ([`ChipView::mmio_locate`]).
#[derive(Clone, Copy, Debug)]
pub struct MmioTarget {
    reg: &'static RegInfo,
    phb: usize,
    part: Part,
    offset: u64,
    size: u32,
}

impl MmioTarget {
    /// The PHB whose state the access uses; chip-wide registers live with
    /// PHB 0.
    pub fn phb(&self) -> usize {
        self.phb
    }
}

/// Locates the register for an access, or the guest error to report.
fn locate(variant: Variant, offset: u64, size: u32, write: bool) -> Result<MmioTarget, MmioEvent> {
    let guest_error = |kind| MmioEvent::GuestError {
        offset,
        size,
        write,
        kind,
    };
    let Some(d) = decode(variant, offset) else {
        return Err(guest_error(GuestErrorKind::UnknownOffset));
    };
    // Chip-wide registers decode to PHB 0, whose register file holds them.
    let phb = match d.reg.placement {
        regs::Placement::Chip => 0,
        regs::Placement::PerPhb { .. } => d.phb,
    };
    match part_of(d.reg.width, d.byte, size) {
        Some(part) => Ok(MmioTarget {
            reg: d.reg,
            phb,
            part,
            offset,
            size,
        }),
        None => Err(guest_error(GuestErrorKind::BadWidth)),
    }
}

impl Phb {
    /// [`Chip::mmio_read`] of an access located by
    /// [`ChipView::mmio_locate`], on PHB `t.phb()` (this one).
    pub fn mmio_read(&mut self, chip: ChipView<'_>, t: &MmioTarget) -> (u64, Option<MmioEvent>) {
        let MmioTarget { reg, phb, part, .. } = *t;
        let mut event = None;
        if reg.behaviour == Behaviour::Pmcr && self.stop_state() == StopState::SoftStop {
            let v = self.reg(RegId::Pmcr) | u64::from(PmrBits::HARDSTOP.bits());
            self.set_reg(RegId::Pmcr, v);
            event = Some(MmioEvent::StopState {
                phb: phb as u8,
                state: StopState::HardStop,
            });
        }
        let full = self.reg(reg.id);
        let (full, fired) = crate::inject::on_read(self, reg.id, full);
        if fired {
            crate::inject::read_fired(chip.name(), phb, reg.id, full);
        }
        let v = match part {
            Part::Full => full,
            Part::High => full >> 32,
            Part::Low => full & 0xFFFF_FFFF,
        };
        (v, event)
    }

    /// [`Chip::mmio_write`] of an access located by
    /// [`ChipView::mmio_locate`], on PHB `t.phb()` (this one).
    pub fn mmio_write(
        &mut self,
        chip: ChipView<'_>,
        t: &MmioTarget,
        value: u64,
    ) -> Option<MmioEvent> {
        let ev = self.mmio_write_inner(chip, t, value);
        if let Some(e) = &ev {
            diag::mmio_guest_error(chip.name(), chip.variant, e);
        }
        ev
    }

    fn mmio_write_inner(
        &mut self,
        chip: ChipView<'_>,
        t: &MmioTarget,
        value: u64,
    ) -> Option<MmioEvent> {
        let MmioTarget {
            reg,
            phb,
            part,
            offset,
            size,
        } = *t;
        let old = self.reg(reg.id);
        let new = match part {
            Part::Full => {
                if reg.width == Width::W32 {
                    value & 0xFFFF_FFFF
                } else {
                    value
                }
            }
            Part::High => (old & 0xFFFF_FFFF) | ((value & 0xFFFF_FFFF) << 32),
            Part::Low => (old & !0xFFFF_FFFF) | (value & 0xFFFF_FFFF),
        };
        if matches!(reg.behaviour, Behaviour::Stored | Behaviour::PhbConfig) {
            diag::stored_only(chip.name(), reg.id, phb, old, new);
        }
        let p = self;
        let phb8 = phb as u8;
        match reg.behaviour {
            Behaviour::Stored => {
                p.set_reg(reg.id, new);
                p.recompute();
                None
            }
            Behaviour::ReadOnly => Some(Chip::guest_error(
                offset,
                size,
                true,
                GuestErrorKind::ReadOnly,
            )),
            Behaviour::TarFlush => {
                p.set_reg(reg.id, new);
                p.recompute();
                p.cache.flush();
                p.stats.flushes = p.stats.flushes.wrapping_add(1);
                Some(MmioEvent::CacheFlushed { phb: phb8 })
            }
            Behaviour::Csr => {
                if new != 0 {
                    return Some(Chip::guest_error(
                        offset,
                        size,
                        true,
                        GuestErrorKind::ValueIgnored,
                    ));
                }
                let was = p.latched.is_some() || p.reg(RegId::Csr) != 0;
                p.set_reg(RegId::Csr, 0);
                p.set_reg(RegId::Plssr, 0);
                p.latched = None;
                p.inject.state.error_latched = false;
                was.then_some(MmioEvent::ErrorCleared { phb: phb8 })
            }
            Behaviour::PhbConfig => {
                p.set_reg(reg.id, new);
                p.recompute();
                let o = PhbConfigBits::from_bits_retain(old as u32);
                let n = PhbConfigBits::from_bits_retain(new as u32);
                let slots_off = |b: PhbConfigBits| b.intersects(PhbConfigBits::SLOT_DISABLE);
                if (o ^ n).contains(PhbConfigBits::TCE_ENABLE) {
                    Some(MmioEvent::TranslationEnabled {
                        phb: phb8,
                        on: n.contains(PhbConfigBits::TCE_ENABLE),
                    })
                } else if slots_off(o) != slots_off(n) {
                    Some(MmioEvent::SlotDisabled {
                        phb: phb8,
                        on: slots_off(n),
                    })
                } else {
                    None
                }
            }
            Behaviour::Pmcr => {
                let before = p.stop_state();
                let hardstop = u64::from(PmrBits::HARDSTOP.bits());
                let soft = new & u64::from(PmrBits::SOFTSTOP.bits()) != 0;
                // HardStop is status: kept while SoftStop stays requested,
                // dropped when SoftStop is cleared; never set by a write.
                let hard = if soft { old & hardstop } else { 0 };
                p.set_reg(reg.id, (new & !hardstop) | hard);
                let after = p.stop_state();
                (before != after).then_some(MmioEvent::StopState {
                    phb: phb8,
                    state: after,
                })
            }
        }
    }
}
