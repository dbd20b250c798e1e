//! Snapshot of all guest-visible state (and the statistics) to bytes.
//!
//! Format version 2 (version 1 without the injection section still
//! loads), little-endian:
//!
//! ```text
//! magic "CALGSNAP" | u16 version | u8 variant | u8 policy | u32 entries | u32 ways
//! 4 × PHB:
//!   u16 reg_count | reg_count × u64 register values (table order)
//!   fault latched  (u8 present + 13 bytes)
//!   fault last     (u8 present + 13 bytes)
//!   u16 stat_count | stat_count × u64
//!   u64 cache clock | u32 lines | lines × (u32 slot, u32 tag, u64 stamp, u64 tce)
//! v2 only, 4 × PHB injection section (`inject.rs`):
//!   u32 split_busy | u32 softstop_faults | u32 tce_fetch_fail | u8 error_latched
//!   u16 stat_count | stat_count × u64
//! ```
//!
//! A fault is `u8 phb, u64 io_addr, u8 dir, u8 bus, u8 devfn, u8 reason`.
//! [`Chip::restore`] checks everything and changes nothing on error.

use core::fmt;

use crate::cache::LineImage;
use crate::chip::Chip;
use crate::csr::csr_encode;
use crate::inject::{self, InjectState, InjectStats, INJECT_STAT_COUNT};
use crate::regs::{PmrBits, RegId, TceBits, Width, REGISTERS, REG_COUNT};
use crate::{CachePolicy, Direction, Fault, FaultReason, PhbStats, Requester, Variant};

/// Current snapshot format version.
pub const SNAPSHOT_VERSION: u16 = 2;
/// Snapshot magic.
pub(crate) const SNAPSHOT_MAGIC: &[u8; 8] = b"CALGSNAP";
const MAGIC: &[u8; 8] = SNAPSHOT_MAGIC;
const STAT_COUNT: usize = 17;

/// Why a snapshot was rejected.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SnapshotError {
    /// Ran out of bytes.
    Truncated,
    /// Not a Calgary snapshot.
    BadMagic,
    /// A format version this build does not read.
    UnsupportedVersion(u16),
    /// Saved from the other variant.
    VariantMismatch,
    /// Saved with another cache policy or geometry.
    CacheConfigMismatch,
    /// Bytes left after the last PHB.
    TrailingBytes,
    /// A field holds a value the model can never be in.
    InvalidField(&'static str),
}

impl fmt::Display for SnapshotError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            SnapshotError::Truncated => f.write_str("calgary snapshot: truncated"),
            SnapshotError::BadMagic => f.write_str("calgary snapshot: bad magic"),
            SnapshotError::UnsupportedVersion(v) => {
                write!(f, "calgary snapshot: unsupported version {v}")
            }
            SnapshotError::VariantMismatch => {
                f.write_str("calgary snapshot: saved from the other chip variant")
            }
            SnapshotError::CacheConfigMismatch => {
                f.write_str("calgary snapshot: TCE cache policy or geometry differs")
            }
            SnapshotError::TrailingBytes => f.write_str("calgary snapshot: trailing bytes"),
            SnapshotError::InvalidField(what) => {
                write!(f, "calgary snapshot: invalid field {what}")
            }
        }
    }
}

impl std::error::Error for SnapshotError {}

struct Reader<'a> {
    b: &'a [u8],
}

impl<'a> Reader<'a> {
    fn take(&mut self, n: usize) -> Result<&'a [u8], SnapshotError> {
        if self.b.len() < n {
            return Err(SnapshotError::Truncated);
        }
        let (h, t) = self.b.split_at(n);
        self.b = t;
        Ok(h)
    }
    fn arr<const N: usize>(&mut self) -> Result<[u8; N], SnapshotError> {
        let s = self.take(N)?;
        let mut a = [0u8; N];
        a.copy_from_slice(s);
        Ok(a)
    }
    fn u8(&mut self) -> Result<u8, SnapshotError> {
        Ok(self.arr::<1>()?[0])
    }
    fn u16(&mut self) -> Result<u16, SnapshotError> {
        Ok(u16::from_le_bytes(self.arr()?))
    }
    fn u32(&mut self) -> Result<u32, SnapshotError> {
        Ok(u32::from_le_bytes(self.arr()?))
    }
    fn u64(&mut self) -> Result<u64, SnapshotError> {
        Ok(u64::from_le_bytes(self.arr()?))
    }
}

fn put_fault(out: &mut Vec<u8>, f: &Option<Fault>) {
    match f {
        None => out.extend_from_slice(&[0u8; 14]),
        Some(f) => {
            out.push(1);
            out.push(f.phb);
            out.extend_from_slice(&f.io_addr.to_le_bytes());
            out.push(match f.dir {
                Direction::Read => 0,
                Direction::Write => 1,
            });
            out.push(f.requester.bus);
            out.push(f.requester.devfn);
            out.push(f.reason.code());
        }
    }
}

fn get_fault(r: &mut Reader<'_>, phb: u8) -> Result<Option<Fault>, SnapshotError> {
    let present = r.u8()?;
    let fphb = r.u8()?;
    let io_addr = r.u64()?;
    let dir = r.u8()?;
    let bus = r.u8()?;
    let devfn = r.u8()?;
    let reason = r.u8()?;
    match present {
        0 => {
            if fphb != 0 || io_addr != 0 || dir != 0 || bus != 0 || devfn != 0 || reason != 0 {
                return Err(SnapshotError::InvalidField("empty fault record"));
            }
            Ok(None)
        }
        1 => {
            if fphb != phb {
                return Err(SnapshotError::InvalidField("fault phb"));
            }
            let dir = match dir {
                0 => Direction::Read,
                1 => Direction::Write,
                _ => return Err(SnapshotError::InvalidField("fault direction")),
            };
            let reason = FaultReason::from_code(reason)
                .ok_or(SnapshotError::InvalidField("fault reason"))?;
            Ok(Some(Fault {
                phb,
                io_addr,
                dir,
                requester: Requester { bus, devfn },
                reason,
                newly_latched: true,
            }))
        }
        _ => Err(SnapshotError::InvalidField("fault presence")),
    }
}

fn get_inject(r: &mut Reader<'_>) -> Result<(InjectState, InjectStats), SnapshotError> {
    let split_busy = r.u32()?;
    let softstop_faults = r.u32()?;
    let tce_fetch_fail = r.u32()?;
    let error_latched = match r.u8()? {
        0 => false,
        1 => true,
        _ => return Err(SnapshotError::InvalidField("injected error flag")),
    };
    if usize::from(r.u16()?) != INJECT_STAT_COUNT {
        return Err(SnapshotError::InvalidField("injection statistics count"));
    }
    let mut st = [0u64; INJECT_STAT_COUNT];
    for s in st.iter_mut() {
        *s = r.u64()?;
    }
    Ok((
        InjectState {
            split_busy,
            softstop_faults,
            tce_fetch_fail,
            error_latched,
        },
        InjectStats::from_array(st),
    ))
}

impl Chip {
    /// Serialises all guest-visible state (registers, latched error and
    /// fault record, cache contents) plus statistics.
    pub fn save(&self) -> Vec<u8> {
        let c = &self.cfg.cache;
        let mut out = Vec::with_capacity(1024);
        out.extend_from_slice(MAGIC);
        out.extend_from_slice(&SNAPSHOT_VERSION.to_le_bytes());
        out.push(self.cfg.variant.to_byte());
        out.push(c.policy.to_byte());
        out.extend_from_slice(&c.entries.to_le_bytes());
        out.extend_from_slice(&c.ways.to_le_bytes());
        for p in self.phbs.iter() {
            out.extend_from_slice(&(REG_COUNT as u16).to_le_bytes());
            for v in p.regs.iter() {
                out.extend_from_slice(&v.to_le_bytes());
            }
            put_fault(&mut out, &p.latched);
            put_fault(&mut out, &p.last_fault);
            out.extend_from_slice(&(STAT_COUNT as u16).to_le_bytes());
            for v in p.stats.to_array() {
                out.extend_from_slice(&v.to_le_bytes());
            }
            out.extend_from_slice(&p.cache.clock().to_le_bytes());
            let lines: Vec<LineImage> = p.cache.valid_lines().collect();
            out.extend_from_slice(&(lines.len() as u32).to_le_bytes());
            for l in lines {
                out.extend_from_slice(&l.slot.to_le_bytes());
                out.extend_from_slice(&l.tag.to_le_bytes());
                out.extend_from_slice(&l.stamp.to_le_bytes());
                out.extend_from_slice(&l.tce.to_le_bytes());
            }
        }
        for p in self.phbs.iter() {
            inject::save_phb(&p.inject, &mut out);
        }
        out
    }

    /// Restores a snapshot taken by [`save`](Self::save) on a chip of the
    /// same variant and cache configuration.  On error the chip is left
    /// unchanged.  STUFF and the split-queue status are not taken from the
    /// snapshot: they come from this chip's configuration / the model.
    pub fn restore(&mut self, bytes: &[u8]) -> Result<(), SnapshotError> {
        let mut r = Reader { b: bytes };
        if r.take(MAGIC.len())? != MAGIC {
            return Err(SnapshotError::BadMagic);
        }
        let version = r.u16()?;
        if version != 1 && version != SNAPSHOT_VERSION {
            return Err(SnapshotError::UnsupportedVersion(version));
        }
        if Variant::from_byte(r.u8()?) != Some(self.cfg.variant) {
            return Err(SnapshotError::VariantMismatch);
        }
        let policy = CachePolicy::from_byte(r.u8()?);
        let entries = r.u32()?;
        let ways = r.u32()?;
        let c = &self.cfg.cache;
        if policy != Some(c.policy) || entries != c.entries || ways != c.ways {
            return Err(SnapshotError::CacheConfigMismatch);
        }
        let mut new = self.clone();
        // CSR/PLSSR against the latched fault, checked once the injection
        // section (v2) says whether an injected error is latched.
        let mut latches = [(None, 0u64, 0u64); 4];
        for ((i, p), latch) in new.phbs.iter_mut().enumerate().zip(latches.iter_mut()) {
            let phb = i as u8;
            if usize::from(r.u16()?) != REG_COUNT {
                return Err(SnapshotError::InvalidField("register count"));
            }
            let mut regs = [0u64; REG_COUNT];
            for (slot, info) in regs.iter_mut().zip(REGISTERS.iter()) {
                let v = r.u64()?;
                if info.width == Width::W32 && v > u64::from(u32::MAX) {
                    return Err(SnapshotError::InvalidField("32-bit register above 32 bits"));
                }
                *slot = match info.id {
                    // Model/config values, not state.
                    RegId::Stuff | RegId::SplitQueue => p.reg(info.id),
                    _ => v,
                };
            }
            let pmcr = PmrBits::from_bits_retain(
                regs.get(RegId::Pmcr.index()).copied().unwrap_or(0) as u32,
            );
            if pmcr.contains(PmrBits::HARDSTOP) && !pmcr.contains(PmrBits::SOFTSTOP) {
                return Err(SnapshotError::InvalidField(
                    "PMCR HardStop without SoftStop",
                ));
            }
            let latched = get_fault(&mut r, phb)?;
            let last = get_fault(&mut r, phb)?;
            let csr = regs.get(RegId::Csr.index()).copied().unwrap_or(0);
            let plssr = regs.get(RegId::Plssr.index()).copied().unwrap_or(0);
            if latched.is_some() && last.is_none() {
                return Err(SnapshotError::InvalidField("latched fault without record"));
            }
            *latch = (latched, csr, plssr);
            if usize::from(r.u16()?) != STAT_COUNT {
                return Err(SnapshotError::InvalidField("statistics count"));
            }
            let mut st = [0u64; STAT_COUNT];
            for s in st.iter_mut() {
                *s = r.u64()?;
            }
            let clock = r.u64()?;
            let nlines = r.u32()? as usize;
            if nlines > p.cache.capacity() {
                return Err(SnapshotError::InvalidField("cache line count"));
            }
            let mut lines: Vec<LineImage> = Vec::with_capacity(nlines);
            for _ in 0..nlines {
                let l = LineImage {
                    slot: r.u32()?,
                    tag: r.u32()?,
                    stamp: r.u64()?,
                    tce: r.u64()?,
                };
                if !p.cache.slot_fits(l.slot, l.tag) {
                    return Err(SnapshotError::InvalidField("cache line slot"));
                }
                if !TceBits::from_bits_retain(l.tce).valid() {
                    return Err(SnapshotError::InvalidField("cached invalid TCE"));
                }
                if lines.iter().any(|o| o.slot == l.slot || o.tag == l.tag) {
                    return Err(SnapshotError::InvalidField("duplicate cache line"));
                }
                lines.push(l);
            }
            p.regs = regs;
            p.latched = latched;
            p.last_fault = last;
            p.stats = PhbStats::from_array(st);
            p.cache.load(clock, &lines);
            p.recompute();
            p.inject = Default::default();
        }
        if version >= 2 {
            for p in new.phbs.iter_mut() {
                let (state, stats) = get_inject(&mut r)?;
                p.inject.state = state;
                p.inject.stats = stats;
            }
        }
        for (p, (latched, csr, plssr)) in new.phbs.iter().zip(latches) {
            match latched {
                Some(f) => {
                    let (c, pl) = csr_encode(&f);
                    if u64::from(c) != csr || u64::from(pl) != plssr {
                        return Err(SnapshotError::InvalidField("CSR/PLSSR vs latched fault"));
                    }
                    if p.inject.state.error_latched {
                        return Err(SnapshotError::InvalidField(
                            "injected error and DMA fault both latched",
                        ));
                    }
                }
                None if p.inject.state.error_latched => {
                    if csr == 0 {
                        return Err(SnapshotError::InvalidField("injected error with CSR 0"));
                    }
                }
                None => {
                    if csr != 0 || plssr != 0 {
                        return Err(SnapshotError::InvalidField("CSR set without latched fault"));
                    }
                }
            }
        }
        if !r.b.is_empty() {
            return Err(SnapshotError::TrailingBytes);
        }
        *self = new;
        Ok(())
    }
}
