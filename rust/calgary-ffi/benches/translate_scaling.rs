//! Translate throughput against thread count, through `calgary_translate`
//! (the entry point the shim's IOMMU translate callback calls).
//!
//! Each thread translates a small working set of pages (all TCE cache hits
//! after the first pass) on one PHB: "own PHB" gives every thread a
//! different PHB, "one PHB" puts them all on PHB 0. The TCE reader computes
//! its TCEs instead of reading memory, so the numbers measure the model and
//! its locking, not a memory system. Prints a table and asserts nothing.
//!
//! Environment: `CALGARY_BENCH_SECS` (default 1.0) per row.
//! With fewer host cores than threads, more threads cannot add throughput:
//! the table prints the core count next to the results. On a busy host the
//! wall-clock rate also depends on how much CPU the bench gets; `ops/cpu-s`
//! (translations per second of CPU time the threads got, from
//! `/proc/thread-self/stat`) shows the cost of a translation including lock
//! contention: it drops when threads fight over one lock.

use std::ffi::{c_char, c_void};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use calgary_core::regs;
use calgary_ffi::*;

#[path = "../tests/common/mod.rs"]
mod common;

/// Table of PHB p at 0x1000_0000 + p MiB; TCE i maps page 0x4000_0000 + i.
const TABLE: u64 = 0x1000_0000;
/// IO pages translated: above the legacy window, below MEM_1, in range.
const IO_BASE: u64 = 0x0100_0000;
const PAGES: u64 = 16;

unsafe extern "C" fn computed_tce(
    _opaque: *mut c_void,
    addr: u64,
    values: *mut u64,
    count: u32,
) -> bool {
    for i in 0..count as u64 {
        let index = ((addr + 8 * i) & 0xF_FFFF) / 8;
        // SAFETY: the model passes room for `count` TCEs.
        unsafe { *values.add(i as usize) = (0x4000_0000 + (index << 12)) | 3 };
    }
    true
}

struct Chip(*mut sys::CalgaryChip);
// SAFETY: the C ABI is callable from any thread (the point of the bench).
unsafe impl Send for Chip {}
// SAFETY: as above.
unsafe impl Sync for Chip {}

fn chip() -> Chip {
    let cfg = common::chip_config(sys::CALGARY_VARIANT_CALGARY, 1);
    let mut err = [0 as c_char; 160];
    // SAFETY: valid config and buffer.
    let c = unsafe {
        calgary_chip_new(
            &cfg,
            Some(computed_tce),
            std::ptr::null_mut(),
            err.as_mut_ptr(),
            err.len(),
        )
    };
    assert!(!c.is_null(), "chip_new failed");
    for p in 0..4 {
        // SAFETY: c is a live chip; NULL event is allowed.
        unsafe {
            calgary_mmio_write(
                c,
                regs::tar(p),
                8,
                TABLE + ((p as u64) << 20),
                std::ptr::null_mut(),
            );
            let off = regs::phb_reg(p, regs::PHB_CONFIG_RW_OFFSET);
            let v = calgary_mmio_read(c, off, 4, std::ptr::null_mut());
            calgary_mmio_write(
                c,
                off,
                4,
                v | u64::from(regs::PHB_TCE_ENABLE),
                std::ptr::null_mut(),
            );
        }
    }
    Chip(c)
}

/// CPU time of the calling thread in clock ticks (utime + stime of
/// `/proc/thread-self/stat`), or 0 where that file does not exist.
fn thread_cpu_ticks() -> u64 {
    let s = std::fs::read_to_string("/proc/thread-self/stat").unwrap_or_default();
    // Fields after the command name (which is in parentheses).
    let rest = s.rsplit_once(')').map_or("", |(_, r)| r);
    let f: Vec<u64> = rest
        .split_whitespace()
        .map(|x| x.parse().unwrap_or(0))
        .collect();
    // utime and stime are fields 14 and 15; `rest` starts at field 3.
    f.get(11).copied().unwrap_or(0) + f.get(12).copied().unwrap_or(0)
}

/// Clock ticks per second of `/proc` times (USER_HZ, 100 on Linux).
const TICKS: f64 = 100.0;

/// Runs `threads` translating threads for `secs`; thread t uses
/// `phb_of(t)`. Returns translations per second of wall time and per
/// second of CPU time the threads got (on a busy host the first depends
/// on how much CPU the bench gets; the second shows what a translation
/// costs, lock contention included).
fn run(chip: &Arc<Chip>, threads: usize, phb_of: fn(usize) -> u32, secs: f64) -> (f64, f64) {
    let stop = Arc::new(AtomicBool::new(false));
    let total = Arc::new(AtomicU64::new(0));
    let cpu = Arc::new(AtomicU64::new(0));
    let handles: Vec<_> = (0..threads)
        .map(|t| {
            let (chip, stop, total, cpu) = (chip.clone(), stop.clone(), total.clone(), cpu.clone());
            let phb = phb_of(t);
            std::thread::spawn(move || {
                let ticks0 = thread_cpu_ticks();
                let mut out = std::mem::MaybeUninit::<sys::CalgaryXlate>::zeroed();
                let mut n = 0u64;
                let mut i = 0u64;
                while !stop.load(Ordering::Relaxed) {
                    for _ in 0..256 {
                        let addr = IO_BASE + ((i % PAGES) << 12);
                        i += 1;
                        // SAFETY: live chip, valid result slot.
                        let ok = unsafe {
                            calgary_translate(
                                chip.0,
                                phb,
                                addr,
                                sys::CALGARY_ACCESS_READ,
                                0x20 + 4 * phb as u8,
                                0,
                                out.as_mut_ptr(),
                            )
                        };
                        if !ok {
                            eprintln!("translate failed on PHB {phb} at {addr:#x}");
                            std::process::exit(1);
                        }
                    }
                    n += 256;
                }
                total.fetch_add(n, Ordering::Relaxed);
                cpu.fetch_add(thread_cpu_ticks() - ticks0, Ordering::Relaxed);
            })
        })
        .collect();
    let start = Instant::now();
    std::thread::sleep(Duration::from_secs_f64(secs));
    stop.store(true, Ordering::Relaxed);
    for h in handles {
        if h.join().is_err() {
            eprintln!("a bench thread panicked");
            std::process::exit(1);
        }
    }
    let n = total.load(Ordering::Relaxed) as f64;
    let cpu_secs = cpu.load(Ordering::Relaxed) as f64 / TICKS;
    (
        n / start.elapsed().as_secs_f64(),
        if cpu_secs > 0.0 { n / cpu_secs } else { 0.0 },
    )
}

fn main() {
    // `cargo test --benches` runs this with --bench absent: keep it short.
    let secs: f64 = std::env::var("CALGARY_BENCH_SECS")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(if std::env::args().any(|a| a == "--bench") {
            1.0
        } else {
            0.05
        });
    let cores = std::thread::available_parallelism().map_or(0, |n| n.get());
    let chip = Arc::new(chip());
    println!("calgary_translate throughput ({secs} s per row, {cores} host cores, cache hits)");
    println!(
        "{:<10} {:>7} {:>14} {:>14} {:>8}",
        "placement", "threads", "ops/s total", "ops/s/thread", "scaling"
    );
    for (name, phb_of) in [
        ("own PHB", (|t| t as u32) as fn(usize) -> u32),
        ("one PHB", (|_| 0) as fn(usize) -> u32),
    ] {
        let mut base = 0.0;
        for threads in [1usize, 2, 4] {
            let (ops, per_cpu) = run(&chip, threads, phb_of, secs);
            if threads == 1 {
                base = ops;
            }
            println!(
                "{:<10} {:>7} {:>14.0} {:>14.0} {:>7.2}x {:>14.0}",
                name,
                threads,
                ops,
                ops / threads as f64,
                ops / base,
                per_cpu
            );
        }
    }
    // SAFETY: all threads joined; freed once.
    unsafe { calgary_chip_free(chip.0) };
}
