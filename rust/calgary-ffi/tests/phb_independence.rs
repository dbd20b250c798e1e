//! Per-PHB locking: while a translation on PHB 0 is stuck inside the model
//! (its TCE fetch waits), translation, MMIO and statistics of PHB 1 go on.
//! With one lock per chip this test would hang until the fetch returns; it
//! fails (instead of hanging forever) after a generous deadline.

use std::ffi::{c_char, c_void};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{mpsc, Condvar, Mutex};
use std::time::Duration;

use calgary_core::regs;
use calgary_ffi::*;

mod common;

const TABLE0: u64 = 0x1000_0000;
const TABLE1: u64 = 0x2000_0000;
const IO: u64 = 0x0100_0000;

/// The TCE reader: PHB 0's fetches wait at the gate until it opens.
struct Gate {
    open: Mutex<bool>,
    cv: Condvar,
    entered: AtomicBool,
}

unsafe extern "C" fn read_tce(
    opaque: *mut c_void,
    addr: u64,
    values: *mut u64,
    count: u32,
) -> bool {
    // SAFETY: opaque is the test's Gate, alive while the chip is.
    let g = unsafe { &*(opaque as *const Gate) };
    if (TABLE0..TABLE1).contains(&addr) {
        g.entered.store(true, Ordering::SeqCst);
        let mut open = g.open.lock().unwrap_or_else(|e| e.into_inner());
        while !*open {
            open = g.cv.wait(open).unwrap_or_else(|e| e.into_inner());
        }
    }
    for i in 0..count as usize {
        // SAFETY: room for `count` values.
        unsafe { *values.add(i) = 0x0300_0000 | 3 };
    }
    true
}

struct Chip(*mut sys::CalgaryChip);
// SAFETY: the C ABI may be called from any thread.
unsafe impl Send for Chip {}
// SAFETY: as above.
unsafe impl Sync for Chip {}

fn translate(c: &Chip, phb: u32) -> bool {
    let mut x = std::mem::MaybeUninit::<sys::CalgaryXlate>::zeroed();
    // SAFETY: live chip, valid result slot.
    unsafe {
        calgary_translate(
            c.0,
            phb,
            IO,
            sys::CALGARY_ACCESS_READ,
            0x20 + 4 * phb as u8,
            0,
            x.as_mut_ptr(),
        )
    }
}

#[test]
fn a_stuck_translation_on_one_phb_does_not_block_another() {
    let gate = Box::leak(Box::new(Gate {
        open: Mutex::new(false),
        cv: Condvar::new(),
        entered: AtomicBool::new(false),
    }));
    let cfg = common::chip_config(sys::CALGARY_VARIANT_CALGARY, 1);
    let mut err = [0 as c_char; 160];
    // SAFETY: valid config and buffer; the gate is leaked (lives forever).
    let raw = unsafe {
        calgary_chip_new(
            &cfg,
            Some(read_tce),
            gate as *const Gate as *mut c_void,
            err.as_mut_ptr(),
            err.len(),
        )
    };
    assert!(!raw.is_null());
    let chip: &'static Chip = Box::leak(Box::new(Chip(raw)));
    let write = |off: u64, size: u32, v: u64| {
        // SAFETY: live chip, NULL event allowed.
        unsafe { calgary_mmio_write(chip.0, off, size, v, std::ptr::null_mut()) }
    };
    let read = |off: u64, size: u32| {
        // SAFETY: as above.
        unsafe { calgary_mmio_read(chip.0, off, size, std::ptr::null_mut()) }
    };
    for (p, table) in [(0usize, TABLE0), (1, TABLE1)] {
        write(regs::tar(p), 8, table);
        let off = regs::phb_reg(p, regs::PHB_CONFIG_RW_OFFSET);
        write(off, 4, read(off, 4) | u64::from(regs::PHB_TCE_ENABLE));
    }
    // PHB 0: a translation whose TCE fetch waits at the gate.
    let stuck = std::thread::spawn(move || translate(chip, 0));
    while !gate.entered.load(Ordering::SeqCst) {
        std::thread::yield_now();
    }
    // PHB 1, meanwhile: translate, flush (TAR write), MMIO reads, stats.
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        let t1 = translate(chip, 1);
        let tar = read(regs::tar(1), 8);
        write(regs::tar(1), 8, tar);
        let t2 = translate(chip, 1);
        let mut st = std::mem::MaybeUninit::<sys::CalgaryPhbStats>::zeroed();
        // SAFETY: live chip, valid slot. Statistics of PHB 1 lock only PHB 1.
        let ok = unsafe { calgary_phb_stats(chip.0, 1, st.as_mut_ptr()) };
        // SAFETY: filled when ok.
        let translations = if ok {
            unsafe { st.assume_init().translations }
        } else {
            0
        };
        let _ = tx.send((t1, tar, t2, translations));
    });
    let got = rx.recv_timeout(Duration::from_secs(30));
    // Let PHB 0's translation finish either way.
    *gate.open.lock().unwrap_or_else(|e| e.into_inner()) = true;
    gate.cv.notify_all();
    let (t1, tar, t2, translations) =
        got.expect("PHB 1 waited for PHB 0's translation (one lock for the chip?)");
    assert!(t1 && t2, "PHB 1 translations failed");
    assert_eq!(tar, TABLE1);
    assert_eq!(translations, 2);
    assert!(
        stuck.join().expect("PHB 0 translator panicked"),
        "PHB 0 translation failed"
    );
}
