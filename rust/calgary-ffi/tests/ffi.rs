//! The boundary exercised from C (tests/c/ffi_caller.c) and from Rust.

use calgary_ffi::*;
use std::ffi::CStr;

extern "C" {
    fn calgary_ffi_c_selftest(stuff: *mut u32, phys: *mut u64, csr: *mut u32) -> i32;
}

#[test]
fn c_caller_drives_stuff_tar_translate_and_fault() {
    let (mut stuff, mut phys, mut csr) = (0u32, 0u64, 0u32);
    let rc = unsafe { calgary_ffi_c_selftest(&mut stuff, &mut phys, &mut csr) };
    assert_eq!(rc, 0, "C self-test failed at step {rc}");
    assert_eq!(stuff >> 16 & 0xff, 0x24, "STUFF of PHB 1 names bus 0x24");
    assert_eq!(phys, 0x12345abc);
    assert_ne!(
        csr & 0xFFE0_FFFF,
        0,
        "latched error visible to Linux's watchdog test"
    );
}

#[test]
fn bad_cache_geometry_names_the_property() {
    unsafe {
        let mut buf = [0 as std::ffi::c_char; 160];
        assert!(!calgary_cache_config_check(
            sys::CALGARY_CACHE_FAITHFUL,
            100,
            4,
            buf.as_mut_ptr(),
            buf.len()
        ));
        let msg = CStr::from_ptr(buf.as_ptr()).to_string_lossy().into_owned();
        assert!(msg.contains("tce-cache-entries"), "{msg}");
        assert!(!calgary_cache_config_check(
            sys::CALGARY_CACHE_FAITHFUL,
            64,
            3,
            buf.as_mut_ptr(),
            buf.len()
        ));
        let msg = CStr::from_ptr(buf.as_ptr()).to_string_lossy().into_owned();
        assert!(msg.contains("tce-cache-ways"), "{msg}");
        assert!(calgary_cache_config_check(
            sys::CALGARY_CACHE_OFF,
            0,
            0,
            buf.as_mut_ptr(),
            buf.len()
        ));
    }
}

#[test]
fn null_pointers_fail_closed() {
    unsafe {
        let mut x = std::mem::MaybeUninit::<sys::CalgaryXlate>::zeroed();
        assert!(!calgary_translate(
            std::ptr::null_mut(),
            0,
            0,
            sys::CALGARY_ACCESS_READ,
            0,
            0,
            x.as_mut_ptr()
        ));
        assert_eq!(
            calgary_mmio_read(std::ptr::null_mut(), 0, 4, std::ptr::null_mut()),
            0
        );
        assert_eq!(
            calgary_rio_option_rom(std::ptr::null(), 0, std::ptr::null_mut(), 0),
            0
        );
    }
}

#[test]
fn rio_rom_carries_a_table_linux_can_parse() {
    let chips = [sys::CalgaryRioChip {
        bbar: 0xfef0_0000,
        variant: 0,
        chassis: 0,
        node: 0,
    }];
    let n = unsafe { calgary_rio_option_rom(chips.as_ptr(), 1, std::ptr::null_mut(), 0) };
    assert!(n >= 512);
    let mut rom = vec![0u8; n];
    assert_eq!(
        unsafe { calgary_rio_option_rom(chips.as_ptr(), 1, rom.as_mut_ptr(), n) },
        n
    );
    // Emulate the ROM: EBDA at 0x9fc00 and the copy it performs.
    let mut low = vec![0u8; 0xa0000];
    low[0x40e..0x410].copy_from_slice(&0x9fc0u16.to_le_bytes());
    let si = u16::from_le_bytes([rom[21], rom[22]]) as usize;
    let cx = u16::from_le_bytes([rom[24], rom[25]]) as usize;
    low[0x9fc00 + 0x180..0x9fc00 + 0x180 + cx].copy_from_slice(&rom[si..si + cx]);
    let parsed = calgary_core::rio::parse(&low).expect("Linux-style parse");
    let dbg = format!("{parsed:?}");
    assert!(
        dbg.contains(&format!("{}", 0xfef0_0000u32)) || dbg.contains("fef00000"),
        "{dbg}"
    );
}

fn err_str(buf: &[std::ffi::c_char]) -> String {
    unsafe { CStr::from_ptr(buf.as_ptr()) }
        .to_string_lossy()
        .into_owned()
}

#[test]
fn platform_layout_from_c_view() {
    let mut out = sys::CalgaryPlatform {
        bbar: [0; 4],
        bus: [[0; 4]; 4],
    };
    let mut buf = [0 as std::ffi::c_char; 256];
    let ok = unsafe {
        calgary_platform_layout(
            sys::CALGARY_LAYOUT_LEGACY,
            true,
            2,
            &mut out,
            buf.as_mut_ptr(),
            buf.len(),
        )
    };
    assert!(ok, "{}", err_str(&buf));
    assert_eq!(out.bbar, [0xfda0_0000, 0xfdb0_0000, 0, 0]);
    assert_eq!(out.bus[0], [0, 1, 2, 3]);
    assert_eq!(out.bus[1], [5, 6, 7, 8]);
    let ok = unsafe {
        calgary_platform_layout(
            sys::CALGARY_LAYOUT_RIO,
            false,
            1,
            &mut out,
            buf.as_mut_ptr(),
            buf.len(),
        )
    };
    assert!(ok);
    assert_eq!(out.bbar[0], 0xfef0_0000);
    assert_eq!(out.bus[0], [0x20, 0x24, 0x28, 0x2c]);
    // bus0-phb without a chip, and an unknown layout: one line each
    for (layout, bus0, chips, word) in [
        (sys::CALGARY_LAYOUT_RIO, true, 0, "bus0-phb"),
        (7, false, 1, "layout"),
    ] {
        let ok = unsafe {
            calgary_platform_layout(layout, bus0, chips, &mut out, buf.as_mut_ptr(), buf.len())
        };
        assert!(!ok);
        let msg = err_str(&buf);
        assert!(msg.contains(word) && !msg.contains('\n'), "{msg}");
    }
}

#[test]
fn platform_check_refuses_bridge_and_window_bars_in_legacy_only() {
    let vga = [
        sys::CalgaryPciBar {
            size: 16 << 20,
            kind: sys::CALGARY_BAR_PREFETCH,
            pad: 0,
        },
        sys::CalgaryPciBar {
            size: 0x100,
            kind: sys::CALGARY_BAR_IO,
            pad: 0,
        },
    ];
    let mut buf = [0 as std::ffi::c_char; 256];
    let check = |layout, bars: &[sys::CalgaryPciBar], bridge, buf: &mut [std::ffi::c_char]| unsafe {
        calgary_platform_check_devices(
            layout,
            false,
            1,
            bars.as_ptr(),
            bars.len(),
            bridge,
            buf.as_mut_ptr(),
            buf.len(),
        )
    };
    assert!(check(sys::CALGARY_LAYOUT_RIO, &vga, 0x0030, &mut buf));
    assert!(check(sys::CALGARY_LAYOUT_LEGACY, &vga[1..], -1, &mut buf));
    assert!(!check(sys::CALGARY_LAYOUT_LEGACY, &vga, -1, &mut buf));
    assert!(err_str(&buf).contains("0xfda00000"), "{}", err_str(&buf));
    assert!(!check(sys::CALGARY_LAYOUT_LEGACY, &[], 0x0030, &mut buf));
    let msg = err_str(&buf);
    assert!(
        msg.contains("bridge at 00:06.0") && msg.contains("layout=legacy"),
        "{msg}"
    );
}
