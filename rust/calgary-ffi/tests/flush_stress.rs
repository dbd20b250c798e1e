//! Concurrency stress through the C ABI: several threads translate while
//! one thread rewrites TCEs and TARs and runs the driver's flush sequence
//! (calgary-hardware.md §5). Every TCE carries the round (version) that
//! wrote it in its page frame; a writer publishes round k only after its
//! flush returned, and a translator that read "round k done" before it
//! called `calgary_translate` must get a page of version k or later. A
//! version below k is a translation that used a mapping after its flush
//! completed.
//!
//! The same harness without the flush (the negative control) must report
//! such translations: the Faithful cache keeps the old TCEs.
//!
//! Not timed: the rounds are counted, and each waits until every
//! translator has translated since the previous round.

use std::ffi::{c_char, c_void};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use calgary_core::regs;
use calgary_ffi::*;

mod common;

/// IO pages each translator cycles through.
const PAGES: u64 = 8;
/// The IO address of page 0: above the legacy window, below MEM_1.
const IO_BASE: u64 = 0x0100_0000;
/// Two TCE tables per PHB (the writer switches TAR between them).
const TABLE_BASE: u64 = 0x1000_0000;
/// Table size code 0: 8192 TCEs, 64 KiB.
const TABLE_BYTES: u64 = 8192 * 8;
/// PHBs translated on (the writer rewrites both).
const PHBS: [usize; 2] = [0, 1];

fn table_addr(phb: usize, which: usize) -> u64 {
    TABLE_BASE + ((2 * phb + which) as u64) * TABLE_BYTES
}

/// A TCE: page frame (version << 20 | page << 12), read and write.
fn tce(version: u64, page: u64) -> u64 {
    (version << 20) | (page << 12) | 3
}

/// Guest RAM holding the TCE tables: every TCE the tables can index.
struct Ram {
    tces: Vec<AtomicU64>,
}

impl Ram {
    fn new() -> Ram {
        let n = (4 * TABLE_BYTES / 8) as usize;
        Ram {
            tces: (0..n).map(|_| AtomicU64::new(0)).collect(),
        }
    }
    fn slot(&self, addr: u64) -> Option<&AtomicU64> {
        let off = addr.checked_sub(TABLE_BASE)?;
        if off % 8 != 0 {
            return None;
        }
        self.tces.get((off / 8) as usize)
    }
    fn store(&self, phb: usize, which: usize, index: u64, v: u64) {
        if let Some(s) = self.slot(table_addr(phb, which) + 8 * index) {
            s.store(v, Ordering::Release);
        }
    }
}

unsafe extern "C" fn read_tce(
    opaque: *mut c_void,
    addr: u64,
    values: *mut u64,
    count: u32,
) -> bool {
    // SAFETY: opaque is the test's Ram, alive while the chip is.
    let ram = unsafe { &*(opaque as *const Ram) };
    for i in 0..count as u64 {
        let Some(s) = ram.slot(addr + 8 * i) else {
            return false;
        };
        // SAFETY: room for `count` values.
        unsafe { *values.add(i as usize) = s.load(Ordering::Acquire) };
    }
    true
}

struct Chip(*mut sys::CalgaryChip);
// SAFETY: the C ABI may be called from any thread.
unsafe impl Send for Chip {}
// SAFETY: as above.
unsafe impl Sync for Chip {}

impl Chip {
    fn read(&self, off: u64, size: u32) -> u64 {
        // SAFETY: live chip; NULL event allowed.
        unsafe { calgary_mmio_read(self.0, off, size, std::ptr::null_mut()) }
    }
    fn write(&self, off: u64, size: u32, v: u64) {
        // SAFETY: as above.
        unsafe { calgary_mmio_write(self.0, off, size, v, std::ptr::null_mut()) }
    }
    /// TAR as Linux writes it: a 64-bit store.
    fn set_tar(&self, phb: usize, v: u64) {
        self.write(regs::tar(phb), 8, v);
    }

    /// The driver's cache flush of PHB `phb` (§5), up to the TAR write
    /// (skipped when `flush` is false) and back.
    fn flush(&self, variant: u32, phb: usize, flush: bool) {
        let tar = self.read(regs::tar(phb), 8);
        if variant == sys::CALGARY_VARIANT_CALIOC2 {
            let pmcr = regs::phb_reg(phb, regs::PHB_PAGE_MIG_CTRL);
            self.write(pmcr, 4, u64::from(regs::PmrBits::SOFTSTOP.bits()));
            let sq = self.read(regs::split_queue(phb), 8);
            assert_eq!(sq & 0xff, 0xff, "split queue not idle");
            self.read(pmcr, 4); // into HardStop
            if flush {
                self.set_tar(phb, tar);
            }
            self.read(pmcr, 4);
            self.write(pmcr, 4, 0);
            self.read(pmcr, 4);
        } else {
            let aer = regs::phb_reg(phb, regs::PHB_AER_OFFSET);
            let saved = self.read(aer, 4);
            self.write(aer, 4, 0);
            self.read(regs::phb_reg(phb, regs::PHB_PLSSR_OFFSET), 4);
            let sq = self.read(regs::split_queue(phb), 8);
            assert_eq!(sq & 0xff, 0xff, "split queue not idle");
            if flush {
                self.set_tar(phb, tar);
            }
            self.write(aer, 4, saved);
            self.read(aer, 4);
        }
    }
}

fn make_chip(variant: u32, line: u32, ram: &Ram) -> Chip {
    let cfg = common::chip_config(variant, line);
    let mut err = [0 as c_char; 160];
    // SAFETY: valid config and buffer; ram outlives the chip (the test
    // frees the chip before dropping it).
    let c = unsafe {
        calgary_chip_new(
            &cfg,
            Some(read_tce),
            ram as *const Ram as *mut c_void,
            err.as_mut_ptr(),
            err.len(),
        )
    };
    assert!(!c.is_null());
    let chip = Chip(c);
    for &p in &PHBS {
        for i in 0..PAGES {
            ram.store(p, 0, IO_BASE / 4096 + i, tce(0, i));
        }
        chip.set_tar(p, table_addr(p, 0));
        let off = regs::phb_reg(p, regs::PHB_CONFIG_RW_OFFSET);
        let v = chip.read(off, 4);
        chip.write(off, 4, v | u64::from(regs::PHB_TCE_ENABLE));
    }
    chip
}

/// What a run saw.
#[derive(Debug, Default)]
struct Outcome {
    translations: u64,
    /// Translations that used a mapping older than the last completed flush.
    stale: u64,
    /// Wrong page or a failed translation (never expected).
    wrong: u64,
    first_stale: Option<String>,
}

/// Runs `rounds` writer rounds with `translators` threads per PHB.
/// `flush` false leaves out the TAR write of the in-place rewrites (and
/// never switches tables): the broken flush of the negative control.
fn run(variant: u32, line: u32, translators: usize, rounds: u64, flush: bool) -> Outcome {
    let ram = Arc::new(Ram::new());
    let chip = Arc::new(make_chip(variant, line, &ram));
    // done[phb]: the last round whose flush returned.
    let done: Arc<Vec<AtomicU64>> = Arc::new(PHBS.iter().map(|_| AtomicU64::new(0)).collect());
    let nthreads = translators * PHBS.len();
    // acked[t]: the last `done` value thread t translated after.
    let acked: Arc<Vec<AtomicU64>> = Arc::new((0..nthreads).map(|_| AtomicU64::new(0)).collect());
    let stop = Arc::new(AtomicBool::new(false));
    let handles: Vec<_> = (0..nthreads)
        .map(|t| {
            let (chip, done, acked, stop) =
                (chip.clone(), done.clone(), acked.clone(), stop.clone());
            let slot = t % PHBS.len();
            let phb = PHBS[slot];
            std::thread::spawn(move || {
                let mut out = Outcome::default();
                let mut x = std::mem::MaybeUninit::<sys::CalgaryXlate>::zeroed();
                let mut i = t as u64;
                while !stop.load(Ordering::Acquire) {
                    let page = i % PAGES;
                    i += 1;
                    let d = done[slot].load(Ordering::Acquire);
                    // SAFETY: live chip, valid result slot.
                    let ok = unsafe {
                        calgary_translate(
                            chip.0,
                            phb as u32,
                            IO_BASE + (page << 12) + 0x10,
                            sys::CALGARY_ACCESS_READ,
                            0x20 + 4 * phb as u8,
                            0,
                            x.as_mut_ptr(),
                        )
                    };
                    // SAFETY: written by calgary_translate.
                    let r = unsafe { x.assume_init_ref() };
                    out.translations += 1;
                    let version = r.phys >> 20;
                    if !ok || (r.phys >> 12) & 0xff != page || r.phys & 0xfff != 0x10 {
                        out.wrong += 1;
                    } else if version < d {
                        out.stale += 1;
                        out.first_stale.get_or_insert_with(|| {
                            format!(
                                "PHB {phb} page {page}: version {version} after round {d}'s flush"
                            )
                        });
                    }
                    acked[t].store(d, Ordering::Release);
                    if i % 64 == 0 {
                        // Let the writer run on a machine with few cores.
                        std::thread::yield_now();
                    }
                }
                out
            })
        })
        .collect();
    let deadline = Instant::now() + Duration::from_secs(120);
    for k in 1..=rounds {
        // Every translator has translated since round k-1 was published.
        while acked.iter().any(|a| a.load(Ordering::Acquire) < k - 1) {
            assert!(Instant::now() < deadline, "translators stalled");
            std::thread::yield_now();
        }
        for (slot, &p) in PHBS.iter().enumerate() {
            let active = usize::from(chip.read(regs::tar(p), 8) != table_addr(p, 0));
            if flush && k % 2 == 0 {
                // Fill the other table, then point TAR at it (a flush).
                for i in 0..PAGES {
                    ram.store(p, 1 - active, IO_BASE / 4096 + i, tce(k, i));
                }
                chip.set_tar(p, table_addr(p, 1 - active));
                chip.flush(variant, p, false);
            } else {
                // Rewrite in place, then the driver's flush.
                for i in 0..PAGES {
                    ram.store(p, active, IO_BASE / 4096 + i, tce(k, i));
                }
                chip.flush(variant, p, flush);
            }
            done[slot].store(k, Ordering::Release);
        }
    }
    while acked.iter().any(|a| a.load(Ordering::Acquire) < rounds) {
        assert!(Instant::now() < deadline, "translators stalled");
        std::thread::yield_now();
    }
    stop.store(true, Ordering::Release);
    let mut total = Outcome::default();
    for h in handles {
        let o = h.join().expect("translator panicked");
        total.translations += o.translations;
        total.stale += o.stale;
        total.wrong += o.wrong;
        if total.first_stale.is_none() {
            total.first_stale = o.first_stale;
        }
    }
    // SAFETY: every thread joined; freed once, before `ram`.
    unsafe { calgary_chip_free(chip.0) };
    eprintln!("variant {variant} line {line} flush {flush}: {rounds} rounds, {total:?}");
    total
}

const ROUNDS: u64 = 1000;

#[test]
fn no_translation_uses_a_mapping_after_its_flush_calgary() {
    for line in [1, 8] {
        let o = run(sys::CALGARY_VARIANT_CALGARY, line, 2, ROUNDS, true);
        assert_eq!(o.wrong, 0, "line {line}: {o:?}");
        assert_eq!(o.stale, 0, "line {line}: {o:?}");
        assert!(o.translations >= ROUNDS * 4, "{o:?}");
    }
}

#[test]
fn no_translation_uses_a_mapping_after_its_flush_calioc2() {
    let o = run(sys::CALGARY_VARIANT_CALIOC2, 1, 2, ROUNDS, true);
    assert_eq!(o.wrong, 0, "{o:?}");
    assert_eq!(o.stale, 0, "{o:?}");
    assert!(o.translations >= ROUNDS * 4, "{o:?}");
}

/// The checker can fail: without the TAR write the cached TCEs of round 0
/// stay in use, and the translators report it.
#[test]
fn the_stress_check_catches_a_missing_flush() {
    let o = run(sys::CALGARY_VARIANT_CALGARY, 1, 2, 20, false);
    assert_eq!(o.wrong, 0, "{o:?}");
    assert!(o.stale > 0, "a missing flush went unnoticed: {o:?}");
}
