//! Fault injection: error paths of the driver that real hardware almost
//! never takes, armed per PHB by the host (a test harness, QEMU's QOM
//! properties), never by the guest.
//!
//! | kind | what the guest sees | consumed by |
//! |---|---|---|
//! | [`Injection::SplitBusy`] | the split-queue status reads **busy** ([`SPLIT_QUEUE_BUSY`]) | every read of that PHB's split-queue register (8-byte or either half) |
//! | [`Injection::SoftStopFault`] | PMDR reads with SoftStopFault (0x40000000) set (CalIOC2 only) | every PMDR read while SoftStop is requested in PMCR, i.e. one per blast attempt |
//! | [`Injection::TceFetchFail`] | a device DMA is blocked with reason 3 "TCE read failed" and latches CSR/PLSSR like any blocked DMA | every TCE read from memory by a device access (cache hits fetch nothing and are not affected) |
//! | [`Injection::LatchError`] | CSR and PLSSR hold the given values at once, as for a bus error, without any DMA | immediately (refused while an error is latched: the first error wins) |
//! | [`Injection::ErrorRegs`] | CSMR, MCK and the 7 error registers 0x810..0x870 read the given values | immediately; they stay until a chip reset |
//!
//! Counts are "the next N": arming replaces the previous count of that kind
//! (0 disarms). A TCE fetch failure blocks the access to that IO page; QEMU
//! walks a blocked access forward in small pieces (one translate call each,
//! at increasing addresses), and those pieces in the same page by the same
//! requester keep failing without consuming another count. A new access
//! (starting again at or below the last piece, or another page) fetches
//! normally. So a failed fetch never lets part of the page through.
//!
//! Reset clears every armed injection and the error-register values; the
//! injection statistics survive reset like the PHB statistics. Armed
//! injections, an injected latched error and the statistics are part of
//! the snapshot (format version 2), so they survive migration.

use core::fmt;

use log::Level;

use crate::diag::{self, ChipName};
use crate::phb::Phb;
use crate::regs::{PmrBits, RegId};
use crate::{Chip, Direction, Requester, Variant};

/// Value of the split-queue status while an injected "busy" is pending:
/// no byte is 0xFF, so Linux's raw `readq() & 0xff` test sees DMA in
/// flight whichever byte order it reads.
pub const SPLIT_QUEUE_BUSY: u64 = 0;

/// The CalIOC2 error registers Linux's `calioc2_dump_error_regs` prints,
/// besides CSR and PLSSR.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct ErrorRegs {
    /// CSMR (0x290).
    pub csmr: u32,
    /// MCK (0x800).
    pub mck: u32,
    /// The error registers at 0x810, 0x820 .. 0x870.
    pub err: [u32; 7],
}

/// Register ids of [`ErrorRegs`], in its field order.
const ERROR_REG_IDS: [RegId; 9] = [
    RegId::Csmr,
    RegId::Mck,
    RegId::Err0,
    RegId::Err1,
    RegId::Err2,
    RegId::Err3,
    RegId::Err4,
    RegId::Err5,
    RegId::Err6,
];

impl ErrorRegs {
    fn values(&self) -> [u32; 9] {
        let e = self.err;
        [
            self.csmr, self.mck, e[0], e[1], e[2], e[3], e[4], e[5], e[6],
        ]
    }

    fn from_values(v: [u32; 9]) -> Self {
        let [csmr, mck, a, b, c, d, e, f, g] = v;
        ErrorRegs {
            csmr,
            mck,
            err: [a, b, c, d, e, f, g],
        }
    }

    /// Parses `CSMR:MCK:E810:E820:E830:E840:E850:E860:E870`: up to nine
    /// numbers (hex with `0x`, else decimal) separated by `:`; registers
    /// left out read 0. The empty string is all zero.
    pub fn parse(s: &str) -> Result<Self, InjectError> {
        let mut v = [0u32; 9];
        let s = s.trim();
        if !s.is_empty() {
            let parts: Vec<&str> = s.split(':').collect();
            if parts.len() > v.len() {
                return Err(InjectError::Parse(
                    "at most 9 values: CSMR:MCK:0x810:0x820:0x830:0x840:0x850:0x860:0x870",
                ));
            }
            for (slot, p) in v.iter_mut().zip(parts) {
                *slot = parse_u32(p)?;
            }
        }
        Ok(Self::from_values(v))
    }
}

impl fmt::Display for ErrorRegs {
    /// The format [`ErrorRegs::parse`] reads, all nine values in hex.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, v) in self.values().iter().enumerate() {
            if i > 0 {
                f.write_str(":")?;
            }
            write!(f, "{v:#010x}")?;
        }
        Ok(())
    }
}

/// Parses a 32-bit number: `0x` hex or decimal.
pub fn parse_u32(s: &str) -> Result<u32, InjectError> {
    let s = s.trim();
    let r = match s.strip_prefix("0x").or_else(|| s.strip_prefix("0X")) {
        Some(h) => u32::from_str_radix(h, 16),
        None => s.parse::<u32>(),
    };
    r.map_err(|_| InjectError::Parse("expected a 32-bit number (0x hex or decimal)"))
}

/// Parses the `CSR[:PLSSR]` of a [`Injection::LatchError`] (PLSSR 0 when
/// left out).
pub fn parse_latch(s: &str) -> Result<(u32, u32), InjectError> {
    let mut it = s.trim().splitn(2, ':');
    let csr = parse_u32(it.next().unwrap_or(""))?;
    let plssr = match it.next() {
        Some(p) => parse_u32(p)?,
        None => 0,
    };
    Ok((csr, plssr))
}

/// One injection request for one PHB.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Injection {
    /// The next N reads of the split-queue status report busy (Linux polls
    /// at most 100 times per flush, then logs "PCI bus not quiesced,
    /// continuing anyway"). 0 disarms.
    SplitBusy(u32),
    /// CalIOC2: the next N PMDR reads while SoftStop is requested report
    /// SoftStopFault (Linux retries the flush up to 99 times, then logs
    /// "too many SoftStopFaults, aborting TCE cache flush sequence!" and
    /// skips the flush). 0 disarms.
    SoftStopFault(u32),
    /// The next N TCE fetches by device DMA fail (CSR reason 3, TCE read
    /// failed). 0 disarms.
    TceFetchFail(u32),
    /// Latch this CSR and PLSSR now, as the hardware does for an error
    /// that is not a DMA (a bus or parity error). CSR must not be 0.
    LatchError {
        /// CSR value (Linux acts when `CSR & 0xFFE0FFFF != 0`).
        csr: u32,
        /// PLSSR value.
        plssr: u32,
    },
    /// Values of the CalIOC2 error registers (all nine replaced).
    ErrorRegs(ErrorRegs),
}

impl Injection {
    /// Short name (property suffix, logs).
    pub fn kind(&self) -> &'static str {
        match self {
            Injection::SplitBusy(_) => "split-busy",
            Injection::SoftStopFault(_) => "softstop-fault",
            Injection::TceFetchFail(_) => "tce-fetch-fail",
            Injection::LatchError { .. } => "error",
            Injection::ErrorRegs(_) => "error-regs",
        }
    }
}

impl fmt::Display for Injection {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Injection::SplitBusy(n) => {
                write!(f, "split queue busy for the next {n} status reads")
            }
            Injection::SoftStopFault(n) => {
                write!(f, "SoftStopFault for the next {n} cache blast attempts")
            }
            Injection::TceFetchFail(n) => write!(f, "the next {n} TCE fetches fail"),
            Injection::LatchError { csr, plssr } => {
                write!(f, "latch {csr:#010x}@CSR {plssr:#010x}@PLSSR")
            }
            Injection::ErrorRegs(r) => write!(f, "error registers {r}"),
        }
    }
}

/// Why an injection was refused.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum InjectError {
    /// No such PHB.
    NoSuchPhb(usize),
    /// The kind does not exist on this chip (SoftStopFault on Calgary).
    NotOnVariant(&'static str, Variant),
    /// An error is already latched in CSR (the first error wins until the
    /// guest writes 0 to CSR).
    ErrorAlreadyLatched,
    /// A CSR of 0 latches nothing.
    ZeroCsr,
    /// Malformed text.
    Parse(&'static str),
}

impl fmt::Display for InjectError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            InjectError::NoSuchPhb(p) => write!(f, "no PHB {p} (0..3)"),
            InjectError::NotOnVariant(k, v) => write!(f, "{k} does not exist on {v}"),
            InjectError::ErrorAlreadyLatched => f.write_str(
                "an error is already latched in CSR (first error wins until the guest clears CSR)",
            ),
            InjectError::ZeroCsr => f.write_str("a CSR of 0 latches nothing"),
            InjectError::Parse(m) => f.write_str(m),
        }
    }
}

impl std::error::Error for InjectError {}

/// Armed injections of one PHB (what is still to fire).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct InjectState {
    /// Split-queue reads still to report busy.
    pub split_busy: u32,
    /// PMDR reads in SoftStop still to report SoftStopFault.
    pub softstop_faults: u32,
    /// TCE fetches still to fail.
    pub tce_fetch_fail: u32,
    /// CSR/PLSSR hold an injected error (no DMA fault record behind it).
    pub error_latched: bool,
}

/// What injection did on one PHB.  Counters survive reset.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct InjectStats {
    /// Injection requests accepted (every kind, including disarming).
    pub armed: u64,
    /// Split-queue reads that reported busy because of an injection.
    pub split_busy_reads: u64,
    /// PMDR reads that reported SoftStopFault because of an injection.
    pub softstop_faults: u64,
    /// TCE fetches failed by injection (the accesses they blocked are also
    /// counted in `blocked_tce_read_failed`).
    pub tce_fetch_failures: u64,
    /// Errors latched into CSR/PLSSR by injection.
    pub errors_latched: u64,
    /// Writes of the error registers by injection.
    pub error_regs_set: u64,
}

impl InjectStats {
    /// Fields in a fixed order (snapshot format).
    pub fn to_array(&self) -> [u64; INJECT_STAT_COUNT] {
        [
            self.armed,
            self.split_busy_reads,
            self.softstop_faults,
            self.tce_fetch_failures,
            self.errors_latched,
            self.error_regs_set,
        ]
    }

    /// Inverse of [`InjectStats::to_array`].
    pub fn from_array(a: [u64; INJECT_STAT_COUNT]) -> Self {
        let [armed, split_busy_reads, softstop_faults, tce_fetch_failures, errors_latched, error_regs_set] =
            a;
        InjectStats {
            armed,
            split_busy_reads,
            softstop_faults,
            tce_fetch_failures,
            errors_latched,
            error_regs_set,
        }
    }
}

/// Number of [`InjectStats`] counters.
pub const INJECT_STAT_COUNT: usize = 6;

/// Per-PHB injection state kept inside the PHB.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub(crate) struct PhbInject {
    pub state: InjectState,
    pub stats: InjectStats,
    /// The IO address, direction and requester of the access whose TCE
    /// fetch an injection failed (the latest piece of it): QEMU's retries
    /// of that access fail with it.
    pub sticky: Option<(u64, Direction, Requester)>,
}

impl PhbInject {
    /// Reset: disarm everything, keep the statistics.
    pub fn reset(&mut self) {
        *self = PhbInject {
            stats: self.stats,
            ..PhbInject::default()
        };
    }

    /// Whether a device fetch should fail now (consumes one count).
    #[inline]
    pub fn take_fetch_failure(&mut self) -> bool {
        if self.state.tce_fetch_fail == 0 {
            return false;
        }
        self.state.tce_fetch_fail -= 1;
        self.stats.tce_fetch_failures = self.stats.tce_fetch_failures.wrapping_add(1);
        true
    }

    /// Whether this translate call is QEMU retrying the rest of an access
    /// whose fetch an injection failed: the same requester and direction,
    /// the same IO page, at a higher address than the last piece (QEMU
    /// walks a blocked access forward in small pieces). Anything else by
    /// that requester (another page, or a new access starting again at or
    /// below the last piece) ends it.
    #[inline]
    pub fn is_sticky(&mut self, io_addr: u64, dir: Direction, req: Requester) -> bool {
        match self.sticky {
            Some((a, d, r)) if r == req && d == dir && a >> 12 == io_addr >> 12 && io_addr > a => {
                self.sticky = Some((io_addr, d, r));
                true
            }
            Some((_, _, r)) if r == req => {
                self.sticky = None;
                false
            }
            _ => false,
        }
    }

    /// A device translation by `req` succeeded: its blocked access is over.
    #[inline]
    pub fn translated(&mut self, req: Requester) {
        if matches!(self.sticky, Some((_, _, r)) if r == req) {
            self.sticky = None;
        }
    }
}

/// MMIO read hook: the value a guest read of `id` returns on PHB `p`,
/// given the stored value; consumes an armed injection when one fires.
pub(crate) fn on_read(p: &mut Phb, id: RegId, value: u64) -> (u64, bool) {
    match id {
        RegId::SplitQueue if p.inject.state.split_busy > 0 => {
            p.inject.state.split_busy -= 1;
            p.inject.stats.split_busy_reads = p.inject.stats.split_busy_reads.wrapping_add(1);
            (SPLIT_QUEUE_BUSY, true)
        }
        RegId::Pmdr if p.inject.state.softstop_faults > 0 && softstop_requested(p) => {
            p.inject.state.softstop_faults -= 1;
            p.inject.stats.softstop_faults = p.inject.stats.softstop_faults.wrapping_add(1);
            (value | u64::from(PmrBits::SOFTSTOPFAULT.bits()), true)
        }
        _ => (value, false),
    }
}

/// What [`on_read`] would return, without consuming anything (monitor).
pub(crate) fn peek(p: &Phb, id: RegId, value: u64) -> u64 {
    match id {
        RegId::SplitQueue if p.inject.state.split_busy > 0 => SPLIT_QUEUE_BUSY,
        RegId::Pmdr if p.inject.state.softstop_faults > 0 && softstop_requested(p) => {
            value | u64::from(PmrBits::SOFTSTOPFAULT.bits())
        }
        _ => value,
    }
}

fn softstop_requested(p: &Phb) -> bool {
    PmrBits::from_bits_retain(p.reg(RegId::Pmcr) as u32).contains(PmrBits::SOFTSTOP)
}

/// Whether CSR can latch a new error (nothing latched, by DMA or injection).
#[inline]
pub(crate) fn csr_free(p: &Phb) -> bool {
    p.latched.is_none() && !p.inject.state.error_latched
}

impl Chip {
    /// Arms (or, with a count of 0, disarms) an injection on PHB `phb`, or
    /// applies it at once ([`Injection::LatchError`], [`Injection::ErrorRegs`]).
    /// See the module documentation for what each kind does.
    pub fn inject(&mut self, phb: usize, inj: Injection) -> Result<(), InjectError> {
        let variant = self.cfg.variant;
        let Some(p) = self.phbs.get_mut(phb) else {
            return Err(InjectError::NoSuchPhb(phb));
        };
        match inj {
            Injection::SplitBusy(n) => p.inject.state.split_busy = n,
            Injection::SoftStopFault(n) => {
                if variant != Variant::CalIoc2 {
                    return Err(InjectError::NotOnVariant("SoftStopFault (PMDR)", variant));
                }
                p.inject.state.softstop_faults = n;
            }
            Injection::TceFetchFail(n) => {
                p.inject.state.tce_fetch_fail = n;
                if n == 0 {
                    p.inject.sticky = None;
                }
            }
            Injection::LatchError { csr, plssr } => {
                if csr == 0 {
                    return Err(InjectError::ZeroCsr);
                }
                if !csr_free(p) {
                    return Err(InjectError::ErrorAlreadyLatched);
                }
                p.set_reg(RegId::Csr, u64::from(csr));
                p.set_reg(RegId::Plssr, u64::from(plssr));
                p.inject.state.error_latched = true;
                p.inject.stats.errors_latched = p.inject.stats.errors_latched.wrapping_add(1);
            }
            Injection::ErrorRegs(r) => {
                for (id, v) in ERROR_REG_IDS.iter().zip(r.values()) {
                    p.set_reg(*id, u64::from(v));
                }
                p.inject.stats.error_regs_set = p.inject.stats.error_regs_set.wrapping_add(1);
            }
        }
        p.inject.stats.armed = p.inject.stats.armed.wrapping_add(1);
        injected(self.name(), phb, &inj);
        Ok(())
    }

    /// Armed injections of a PHB.
    pub fn injections(&self, phb: usize) -> Option<InjectState> {
        self.phbs.get(phb).map(|p| p.inject.state)
    }

    /// Injection statistics of a PHB.
    pub fn inject_stats(&self, phb: usize) -> Option<InjectStats> {
        self.phbs.get(phb).map(|p| p.inject.stats)
    }

    /// Current values of a PHB's CalIOC2 error registers.
    pub fn error_regs(&self, phb: usize) -> Option<ErrorRegs> {
        let p = self.phbs.get(phb)?;
        let mut v = [0u32; 9];
        for (slot, id) in v.iter_mut().zip(ERROR_REG_IDS) {
            *slot = p.reg(id) as u32;
        }
        Some(ErrorRegs::from_values(v))
    }
}

// ---------------------------------------------------------------- diagnostics

/// An injection was armed or applied (target [`diag::INJECT`], Info).
fn injected(chip: ChipName<'_>, phb: usize, inj: &Injection) {
    log::info!(target: diag::INJECT, "{chip}: PHB {phb} inject {}: {inj}", inj.kind());
}

/// A register read returned an injected value (Debug).
pub(crate) fn read_fired(chip: ChipName<'_>, phb: usize, id: RegId, v: u64) {
    if log::log_enabled!(target: diag::INJECT, Level::Debug) {
        log::debug!(
            target: diag::INJECT,
            "{chip}: PHB {phb} injected {} read {v:#x}",
            id.info().name
        );
    }
}

/// A retry of an access whose TCE fetch an injection failed: blocked
/// again (counted once, like any repeat of a blocked page).
#[cold]
pub(crate) fn sticky_block(
    name: ChipName<'_>,
    p: &mut Phb,
    phb: usize,
    io_addr: u64,
    dir: Direction,
    req: Requester,
) -> crate::Fault {
    crate::tce::block(
        name,
        p,
        phb,
        io_addr,
        dir,
        req,
        crate::FaultReason::TceReadFailed,
        true,
    )
}

/// A TCE fetch was failed by injection (Info; cold, the DMA is blocked).
#[cold]
pub(crate) fn fetch_failed(chip: ChipName<'_>, phb: usize, io_addr: u64, req: Requester) {
    log::info!(
        target: diag::INJECT,
        "{chip}: PHB {phb} injected TCE fetch failure: DMA by {req} at IO address {io_addr:#x} blocked"
    );
}

/// Snapshot section (format v2): per PHB the armed counts, the injected
/// latch flag and the statistics.
pub(crate) fn save_phb(p: &PhbInject, out: &mut Vec<u8>) {
    out.extend_from_slice(&p.state.split_busy.to_le_bytes());
    out.extend_from_slice(&p.state.softstop_faults.to_le_bytes());
    out.extend_from_slice(&p.state.tce_fetch_fail.to_le_bytes());
    out.push(u8::from(p.state.error_latched));
    out.extend_from_slice(&(INJECT_STAT_COUNT as u16).to_le_bytes());
    for v in p.stats.to_array() {
        out.extend_from_slice(&v.to_le_bytes());
    }
}
