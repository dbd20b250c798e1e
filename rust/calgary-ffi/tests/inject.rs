//! Fault injection through the C ABI: what the QOM properties and the
//! machine's `inject=` list call.

use calgary_ffi::*;

mod common;
use std::ffi::{c_char, CStr};

fn chip(variant: u32) -> *mut sys::CalgaryChip {
    common::new_chip(&common::chip_config(variant, 1)).expect("chip")
}

fn text(c: *mut sys::CalgaryChip, phb: u32, kind: u32) -> String {
    let mut buf = [0 as c_char; 200];
    let n = unsafe { calgary_inject_get_text(c, phb, kind, buf.as_mut_ptr(), buf.len()) };
    let s = unsafe { CStr::from_ptr(buf.as_ptr()) }
        .to_string_lossy()
        .into_owned();
    assert_eq!(n, s.len());
    s
}

fn info(c: *mut sys::CalgaryChip, phb: u32) -> sys::CalgaryInjectInfo {
    let mut out = std::mem::MaybeUninit::<sys::CalgaryInjectInfo>::zeroed();
    assert!(unsafe { calgary_inject_info(c, phb, out.as_mut_ptr()) });
    unsafe { out.assume_init() }
}

fn set(c: *mut sys::CalgaryChip, phb: u32, kind: u32, v: &str) -> Result<(), String> {
    let v = std::ffi::CString::new(v).unwrap();
    let mut err = [0 as c_char; 200];
    let ok = unsafe { calgary_inject_text(c, phb, kind, v.as_ptr(), err.as_mut_ptr(), err.len()) };
    if ok {
        Ok(())
    } else {
        Err(unsafe { CStr::from_ptr(err.as_ptr()) }
            .to_string_lossy()
            .into_owned())
    }
}

#[test]
fn counted_kinds_arm_read_back_and_fire() {
    let c = chip(sys::CALGARY_VARIANT_CALGARY);
    let mut err = [0 as c_char; 200];
    assert!(unsafe {
        calgary_inject_count(
            c,
            1,
            sys::CALGARY_INJECT_SPLIT_BUSY,
            2,
            err.as_mut_ptr(),
            err.len(),
        )
    });
    assert_eq!(text(c, 1, sys::CALGARY_INJECT_SPLIT_BUSY), "2");
    let mut ev = std::mem::MaybeUninit::<sys::CalgaryEvent>::zeroed();
    let busy = unsafe { calgary_mmio_read(c, 0x5870, 8, ev.as_mut_ptr()) };
    assert_eq!(busy, 0);
    let i = info(c, 1);
    assert_eq!((i.split_busy, i.split_busy_reads, i.armed), (1, 1, 1));
    // The `info calgary` line says what was armed and what fired.
    let mut buf = [0 as c_char; 600];
    unsafe { calgary_phb_summary(c, 1, buf.as_mut_ptr(), buf.len()) };
    let line = unsafe { CStr::from_ptr(buf.as_ptr()) }
        .to_string_lossy()
        .into_owned();
    assert!(line.contains("inject=[armed split-busy=1"), "{line}");
    assert!(line.contains("fired split-busy=1"), "{line}");
    // A kind without a count is refused by the counted entry point.
    assert!(!unsafe {
        calgary_inject_count(
            c,
            1,
            sys::CALGARY_INJECT_ERROR,
            1,
            err.as_mut_ptr(),
            err.len(),
        )
    });
    // SoftStopFault does not exist on Calgary.
    let e = set(c, 0, sys::CALGARY_INJECT_SOFTSTOP_FAULT, "3").unwrap_err();
    assert!(e.contains("Calgary"), "{e}");
    unsafe { calgary_chip_free(c) };
}

#[test]
fn error_and_error_regs_text_round_trip() {
    let c = chip(sys::CALGARY_VARIANT_CALIOC2);
    assert_eq!(text(c, 2, sys::CALGARY_INJECT_ERROR), "");
    set(c, 2, sys::CALGARY_INJECT_ERROR, "0x88000000:0x1234").unwrap();
    assert_eq!(
        text(c, 2, sys::CALGARY_INJECT_ERROR),
        "0x88000000:0x00001234"
    );
    let e = set(c, 2, sys::CALGARY_INJECT_ERROR, "0x1").unwrap_err();
    assert!(e.contains("already latched"), "{e}");
    let e = set(c, 2, sys::CALGARY_INJECT_ERROR, "zz").unwrap_err();
    assert!(e.contains("CSR[:PLSSR]"), "{e}");
    set(c, 2, sys::CALGARY_INJECT_ERROR_REGS, "0xa:0xb:0xc").unwrap();
    assert!(text(c, 2, sys::CALGARY_INJECT_ERROR_REGS)
        .starts_with("0x0000000a:0x0000000b:0x0000000c:0x00000000"));
    let mut st = std::mem::MaybeUninit::<sys::CalgaryPhbStats>::zeroed();
    assert!(unsafe { calgary_phb_stats(c, 2, st.as_mut_ptr()) });
    let st = unsafe { st.assume_init() };
    assert_eq!((st.csr, st.plssr), (0x8800_0000, 0x1234));
    let i = info(c, 2);
    assert_eq!(
        (i.error_latched, i.errors_latched, i.error_regs_set),
        (1, 1, 1)
    );
    assert_eq!(text(c, 9, sys::CALGARY_INJECT_ERROR), "");
    unsafe { calgary_chip_free(c) };
}

#[test]
fn machine_inject_list_applies_per_chip_and_phb() {
    let chips = [
        chip(sys::CALGARY_VARIANT_CALIOC2),
        chip(sys::CALGARY_VARIANT_CALIOC2),
    ];
    let mut err = [0 as c_char; 300];
    let spec = c"calgary0.1/split-busy=150; calgary1.3/softstop-fault=5;calgary1.0/error=0x80000001:0x10;calgary0.0/tce-fetch-fail=2";
    assert!(unsafe {
        calgary_inject_spec_apply(
            chips.as_ptr(),
            2,
            spec.as_ptr(),
            err.as_mut_ptr(),
            err.len(),
        )
    });
    assert_eq!(info(chips[0], 1).split_busy, 150);
    assert_eq!(info(chips[1], 3).softstop_faults, 5);
    assert_eq!(info(chips[0], 0).tce_fetch_fail, 2);
    assert_eq!(
        text(chips[1], 0, sys::CALGARY_INJECT_ERROR),
        "0x80000001:0x00000010"
    );
    for (bad, want) in [
        (c"calgary2.0/split-busy=1", "no chip 2"),
        (c"calgary0.0/nothing=1", "unknown kind"),
        (c"calgary0.0/split-busy=many", "32-bit number"),
        (c"split-busy=1", "calgaryC.P/KIND=VALUE"),
    ] {
        assert!(!unsafe {
            calgary_inject_spec_apply(chips.as_ptr(), 2, bad.as_ptr(), err.as_mut_ptr(), err.len())
        });
        let msg = unsafe { CStr::from_ptr(err.as_ptr()) }
            .to_string_lossy()
            .into_owned();
        assert!(msg.contains(want), "{msg}");
    }
    // A chip's reset passes only itself: other chips' items are skipped,
    // still checked.
    let only1 = [std::ptr::null_mut(), chips[1]];
    unsafe {
        calgary_inject_count(
            chips[0],
            1,
            sys::CALGARY_INJECT_SPLIT_BUSY,
            0,
            err.as_mut_ptr(),
            err.len(),
        );
        calgary_inject_count(
            chips[1],
            3,
            sys::CALGARY_INJECT_SOFTSTOP_FAULT,
            0,
            err.as_mut_ptr(),
            err.len(),
        );
        // as after a reset: CSR clear again
        calgary_chip_reset(chips[1]);
    }
    assert!(unsafe {
        calgary_inject_spec_apply(
            only1.as_ptr(),
            2,
            spec.as_ptr(),
            err.as_mut_ptr(),
            err.len(),
        )
    });
    assert_eq!(info(chips[0], 1).split_busy, 0);
    assert_eq!(info(chips[1], 3).softstop_faults, 5);
    let bad = c"calgary0.0/split-busy=x";
    assert!(!unsafe {
        calgary_inject_spec_apply(only1.as_ptr(), 2, bad.as_ptr(), err.as_mut_ptr(), err.len())
    });
    // No list: nothing to do.
    assert!(unsafe {
        calgary_inject_spec_apply(
            chips.as_ptr(),
            2,
            std::ptr::null(),
            err.as_mut_ptr(),
            err.len(),
        )
    });
    for c in chips {
        unsafe { calgary_chip_free(c) };
    }
}
