//! Field-level image of a chip's state, for QEMU's migration.
//!
//! QEMU migrates the chip as named vmstate fields (one per register, the
//! latched fault, and subsections for the cache contents and statistics),
//! so that a register added later travels in a new subsection instead of
//! changing an opaque blob. [`Chip::export_image`] gives those fields;
//! [`Chip::import_image`] takes them back through the same checks as
//! [`Chip::restore`] (it encodes the image in the snapshot format and
//! restores that), so a stream with inconsistent fields (CSR without a
//! latched fault, a cache line in the wrong set, ...) is refused and the
//! chip is left unchanged.

use crate::cache::LineImage;
use crate::chip::Chip;
use crate::inject::{self, InjectState, InjectStats, PhbInject, INJECT_STAT_COUNT};
use crate::regs::REG_COUNT;
use crate::snapshot::{SnapshotError, SNAPSHOT_MAGIC, SNAPSHOT_VERSION};
use crate::{Direction, Fault, PHBS_PER_CHIP};

/// Statistics counters per PHB, in [`crate::PhbStats::to_array`] order.
pub const STAT_COUNT: usize = 17;

/// A DMA fault record (the latched error, or the last fault).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct FaultImage {
    /// A fault is recorded; all other fields are 0 when not.
    pub present: bool,
    /// The IO address of the blocked DMA.
    pub io_addr: u64,
    /// The DMA was a device write to memory.
    pub write: bool,
    /// Requester bus.
    pub bus: u8,
    /// Requester devfn.
    pub devfn: u8,
    /// Fault reason code (`FaultReason::code`).
    pub reason: u8,
}

/// One valid TCE cache line.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct CacheLineImage {
    /// Slot in the cache array (set * ways + way).
    pub slot: u32,
    /// TCE index held.
    pub tag: u32,
    /// LRU stamp.
    pub stamp: u64,
    /// The cached TCE.
    pub tce: u64,
}

/// The state of one PHB.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PhbImage {
    /// Register values in register-table order ([`crate::regs::REGISTERS`]).
    pub regs: [u64; REG_COUNT],
    /// The error latched in CSR/PLSSR.
    pub latched: FaultImage,
    /// The last blocked DMA (diagnostics).
    pub last_fault: FaultImage,
    /// Statistics counters.
    pub stats: [u64; STAT_COUNT],
    /// The cache's LRU clock.
    pub cache_clock: u64,
    /// Valid cache lines.
    pub cache_lines: Vec<CacheLineImage>,
    /// Armed fault injections ([`crate::inject`]).
    pub inject: InjectState,
    /// What injection did, in [`InjectStats::to_array`] order.
    pub inject_stats: [u64; INJECT_STAT_COUNT],
}

/// The state of one chip.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ChipImage {
    /// PHBs 0..3.
    pub phbs: [PhbImage; PHBS_PER_CHIP],
}

fn fault_image(f: &Option<Fault>) -> FaultImage {
    match f {
        None => FaultImage::default(),
        Some(f) => FaultImage {
            present: true,
            io_addr: f.io_addr,
            write: f.dir == Direction::Write,
            bus: f.requester.bus,
            devfn: f.requester.devfn,
            reason: f.reason.code(),
        },
    }
}

fn put_fault(out: &mut Vec<u8>, phb: u8, f: &FaultImage) {
    let present = u8::from(f.present);
    out.push(present);
    out.push(if f.present { phb } else { 0 });
    out.extend_from_slice(&f.io_addr.to_le_bytes());
    out.push(u8::from(f.write));
    out.push(f.bus);
    out.push(f.devfn);
    out.push(f.reason);
}

impl Chip {
    /// The chip's state as migration fields.
    pub fn export_image(&self) -> ChipImage {
        let phbs = self.phbs.each_ref().map(|p| PhbImage {
            regs: p.regs,
            latched: fault_image(&p.latched),
            last_fault: fault_image(&p.last_fault),
            stats: p.stats.to_array(),
            cache_clock: p.cache.clock(),
            cache_lines: p
                .cache
                .valid_lines()
                .map(|l| CacheLineImage {
                    slot: l.slot,
                    tag: l.tag,
                    stamp: l.stamp,
                    tce: l.tce,
                })
                .collect(),
            inject: p.inject.state,
            inject_stats: p.inject.stats.to_array(),
        });
        ChipImage { phbs }
    }

    /// The image in the snapshot byte format of this chip's configuration.
    fn encode_image(&self, img: &ChipImage) -> Vec<u8> {
        let c = &self.cfg.cache;
        let mut out = Vec::with_capacity(1024);
        out.extend_from_slice(SNAPSHOT_MAGIC);
        out.extend_from_slice(&SNAPSHOT_VERSION.to_le_bytes());
        out.push(self.cfg.variant.to_byte());
        out.push(c.policy.to_byte());
        out.extend_from_slice(&c.entries.to_le_bytes());
        out.extend_from_slice(&c.ways.to_le_bytes());
        for (i, p) in img.phbs.iter().enumerate() {
            out.extend_from_slice(&(REG_COUNT as u16).to_le_bytes());
            for v in p.regs.iter() {
                out.extend_from_slice(&v.to_le_bytes());
            }
            put_fault(&mut out, i as u8, &p.latched);
            put_fault(&mut out, i as u8, &p.last_fault);
            out.extend_from_slice(&(STAT_COUNT as u16).to_le_bytes());
            for v in p.stats.iter() {
                out.extend_from_slice(&v.to_le_bytes());
            }
            out.extend_from_slice(&p.cache_clock.to_le_bytes());
            out.extend_from_slice(&(p.cache_lines.len() as u32).to_le_bytes());
            for l in p.cache_lines.iter() {
                let l = LineImage {
                    slot: l.slot,
                    tag: l.tag,
                    stamp: l.stamp,
                    tce: l.tce,
                };
                out.extend_from_slice(&l.slot.to_le_bytes());
                out.extend_from_slice(&l.tag.to_le_bytes());
                out.extend_from_slice(&l.stamp.to_le_bytes());
                out.extend_from_slice(&l.tce.to_le_bytes());
            }
        }
        for p in img.phbs.iter() {
            let pi = PhbInject {
                state: p.inject,
                stats: InjectStats::from_array(p.inject_stats),
                ..PhbInject::default()
            };
            inject::save_phb(&pi, &mut out);
        }
        out
    }

    /// Takes the state from migration fields, with every check of
    /// [`Chip::restore`]; on error the chip is unchanged.
    pub fn import_image(&mut self, img: &ChipImage) -> Result<(), SnapshotError> {
        let bytes = self.encode_image(img);
        self.restore(&bytes)
    }
}

#[cfg(test)]
#[allow(clippy::expect_used, clippy::indexing_slicing)]
mod tests {
    use super::*;
    use crate::{CacheConfig, CachePolicy, ChipConfig, PhbConfig, Variant};

    fn chip() -> Chip {
        let phb = |bus| PhbConfig {
            first_bus: bus,
            last_bus: bus,
            mem1_start: 0xC000_0000,
            mem1_limit: 0xFFFF_FFFF,
        };
        let cfg = ChipConfig {
            variant: Variant::Calgary,
            bbar: 0xfef0_0000,
            chassis: 0,
            phbs: [phb(0x20), phb(0x24), phb(0x28), phb(0x2c)],
            cache: CacheConfig {
                policy: CachePolicy::Faithful,
                entries: 16,
                ways: 4,
            },
        };
        Chip::new(cfg).expect("valid config")
    }

    #[test]
    fn image_encodes_exactly_what_save_writes() {
        let mut c = chip();
        c.phbs[1].regs[crate::regs::RegId::Tar.index()] = 0x0100_0000;
        c.phbs[1].stats = crate::PhbStats::from_array([3; STAT_COUNT]);
        c.phbs[2].inject.state.tce_fetch_fail = 2;
        c.phbs[2].inject.stats = InjectStats::from_array([1; INJECT_STAT_COUNT]);
        let img = c.export_image();
        assert_eq!(c.encode_image(&img), c.save());
    }

    #[test]
    fn import_refuses_inconsistent_fields_and_keeps_state() {
        let mut c = chip();
        let before = c.export_image();
        let mut bad = before.clone();
        bad.phbs[2].regs[crate::regs::RegId::Csr.index()] = 0x8000_0000;
        assert!(c.import_image(&bad).is_err());
        assert_eq!(c.export_image(), before);
        let mut bad = before.clone();
        bad.phbs[0].latched.bus = 3; // not present, yet a field set
        assert!(c.import_image(&bad).is_err());
    }

    #[test]
    fn import_round_trips() {
        let mut a = chip();
        a.phbs[3].regs[crate::regs::RegId::Tar.index()] = 0x0200_0003;
        a.phbs[0].inject.state.split_busy = 5;
        let img = a.export_image();
        let mut b = chip();
        b.import_image(&img).expect("valid image");
        assert_eq!(b.export_image(), img);
    }
}
