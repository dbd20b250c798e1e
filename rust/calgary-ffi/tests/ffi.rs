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
fn mem1_start_follows_the_firmware_pci_hole() {
    for (below_4g, start) in [
        (128u64 << 20, 0x8000_0000u64),
        (2 << 30, 0x8000_0000),
        ((2 << 30) + (1 << 20), 0xC000_0000),
        (3 << 30, 0xC000_0000),
        (0xD000_0000, 0xD000_0000),
    ] {
        assert_eq!(calgary_mem1_start(below_4g), start, "{below_4g:#x}");
    }
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
