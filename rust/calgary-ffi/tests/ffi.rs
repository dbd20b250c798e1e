//! The boundary exercised from Rust (from C: the calgary-ffi-ctest crate).

use calgary_ffi::*;

mod common;
use std::ffi::CStr;

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
fn bad_line_or_block_setting_is_refused_with_its_name() {
    for (line, block, name) in [(4, 1, "tce-cache-line 4"), (1, 2, "tce-block 2")] {
        let mut cfg = common::chip_config(sys::CALGARY_VARIANT_CALGARY, line);
        cfg.tce_block = block;
        let msg = common::new_chip(&cfg).expect_err("refused");
        assert!(msg.contains(name), "{msg}");
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

// ---------------------------------------------------------------- logging

use std::cell::RefCell;
use std::ffi::c_char;

thread_local! {
    /// Classes asked about and lines received on this thread (the model
    /// logs on the thread that calls it).
    static ASKED: RefCell<Vec<u32>> = const { RefCell::new(Vec::new()) };
    static LINES: RefCell<Vec<(u32, String)>> = const { RefCell::new(Vec::new()) };
    /// Classes this thread's "QEMU" shows.
    static SHOWN: RefCell<Vec<u32>> = const { RefCell::new(Vec::new()) };
}

unsafe extern "C" fn test_log_enabled(cls: u32) -> bool {
    ASKED.with(|a| a.borrow_mut().push(cls));
    SHOWN.with(|s| s.borrow().contains(&cls))
}

unsafe extern "C" fn test_log(cls: u32, msg: *const c_char) {
    let text = unsafe { CStr::from_ptr(msg) }
        .to_string_lossy()
        .into_owned();
    LINES.with(|l| l.borrow_mut().push((cls, text)));
}

fn test_chip() -> *mut sys::CalgaryChip {
    common::new_chip(&common::chip_config(sys::CALGARY_VARIANT_CALGARY, 1)).expect("chip")
}

fn lines() -> Vec<(u32, String)> {
    LINES.with(|l| l.borrow().clone())
}

#[test]
fn model_records_reach_the_log_functions_by_class() {
    unsafe { calgary_log_init(Some(test_log_enabled), Some(test_log)) };
    SHOWN.with(|s| *s.borrow_mut() = vec![sys::CALGARY_LOG_GUEST_ERROR, sys::CALGARY_LOG_UNIMP]);
    let chip = test_chip();
    let mut ev = std::mem::MaybeUninit::<sys::CalgaryEvent>::zeroed();
    unsafe {
        calgary_chip_set_name(chip, c"calgary3".as_ptr());
        // CSMR of PHB 0 is read-only: a guest error.
        calgary_mmio_write(chip, 0x8000 | 0x290, 4, 1, ev.as_mut_ptr());
        // CALGARY_CONFIG is stored only: unimplemented.
        calgary_mmio_write(chip, 0x108, 8, 0xE << 40, ev.as_mut_ptr());
        calgary_chip_free(chip);
    }
    let got = lines();
    assert_eq!(got.len(), 2, "{got:?}");
    assert_eq!(got[0].0, sys::CALGARY_LOG_GUEST_ERROR);
    assert!(got[0].1.starts_with("calgary3: "), "{got:?}");
    assert!(got[0].1.contains("read-only register"), "{got:?}");
    assert!(got[0].1.contains("CSMR"), "{got:?}");
    assert!(!got[0].1.contains('\n'), "one line, no newline");
    assert_eq!(got[1].0, sys::CALGARY_LOG_UNIMP);
    assert!(got[1].1.contains("CALGARY_CONFIG"), "{got:?}");
}

#[test]
fn classes_qemu_does_not_show_are_not_formatted() {
    unsafe { calgary_log_init(Some(test_log_enabled), Some(test_log)) };
    SHOWN.with(|s| s.borrow_mut().clear());
    ASKED.with(|a| a.borrow_mut().clear());
    let chip = test_chip();
    let mut ev = std::mem::MaybeUninit::<sys::CalgaryEvent>::zeroed();
    unsafe {
        calgary_mmio_write(chip, 0x8000 | 0x290, 4, 1, ev.as_mut_ptr());
        calgary_chip_free(chip);
    }
    assert!(lines().is_empty(), "{:?}", lines());
    let asked = ASKED.with(|a| a.borrow().clone());
    assert!(
        asked.contains(&sys::CALGARY_LOG_GUEST_ERROR),
        "the shim was asked whether guest errors are shown: {asked:?}"
    );
}

#[test]
fn phb_summary_describes_state_and_counters() {
    let chip = test_chip();
    let mut buf = [0 as c_char; 512];
    unsafe {
        let n = calgary_phb_summary(chip, 2, buf.as_mut_ptr(), buf.len());
        let line = CStr::from_ptr(buf.as_ptr()).to_string_lossy().into_owned();
        assert_eq!(n, line.len());
        assert!(line.starts_with("translation=off "), "{line}");
        assert!(line.contains(" csr=0x00000000 "), "{line}");
        assert!(line.contains(" translations=0 "), "{line}");
        assert!(!line.contains("last-fault"), "{line}");

        // Translation on, one blocked DMA: the state and the fault show.
        let mut ev = std::mem::MaybeUninit::<sys::CalgaryEvent>::zeroed();
        calgary_mmio_write(chip, 0xA000 | 0x160, 4, 0x2000_0000, ev.as_mut_ptr());
        let mut x = std::mem::MaybeUninit::<sys::CalgaryXlate>::zeroed();
        // No TCE reader: the fetch fails and the DMA is blocked.
        assert!(!calgary_translate(
            chip,
            2,
            0x3000,
            sys::CALGARY_ACCESS_WRITE,
            0x28,
            8,
            x.as_mut_ptr()
        ));
        calgary_phb_summary(chip, 2, buf.as_mut_ptr(), buf.len());
        let line = CStr::from_ptr(buf.as_ptr()).to_string_lossy().into_owned();
        assert!(line.starts_with("translation=on "), "{line}");
        assert!(line.contains(" blocked=1 "), "{line}");
        assert!(
            line.contains("last-fault=[write by 28:01.0 at 0x3000"),
            "{line}"
        );
        assert!(!line.contains(" csr=0x00000000 "), "{line}");

        // Slot disable dominates; a short buffer truncates but reports the size.
        calgary_mmio_write(chip, 0xA000 | 0x160, 4, 0x2400_0000, ev.as_mut_ptr());
        let mut small = [0 as c_char; 8];
        let n = calgary_phb_summary(chip, 2, small.as_mut_ptr(), small.len());
        assert!(n > small.len());
        assert_eq!(CStr::from_ptr(small.as_ptr()).to_bytes(), b"transla");
        calgary_phb_summary(chip, 2, buf.as_mut_ptr(), buf.len());
        let line = CStr::from_ptr(buf.as_ptr()).to_string_lossy().into_owned();
        assert!(line.starts_with("translation=slot-disabled "), "{line}");

        assert_eq!(calgary_phb_summary(chip, 4, buf.as_mut_ptr(), buf.len()), 0);
        assert_eq!(
            calgary_phb_summary(std::ptr::null_mut(), 0, buf.as_mut_ptr(), buf.len()),
            0
        );
        calgary_chip_free(chip);
    }
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

// ------------------------------------------------------------- migration

unsafe extern "C" fn tce_reader(
    _opaque: *mut std::ffi::c_void,
    _addr: u64,
    values: *mut u64,
    count: u32,
) -> bool {
    for i in 0..count as usize {
        // A valid read/write TCE for page 0x03000000.
        unsafe { *values.add(i) = 0x0300_0000 | 3 };
    }
    true
}

fn caching_chip() -> *mut sys::CalgaryChip {
    let mut err = [0 as c_char; 160];
    let mut ev = std::mem::MaybeUninit::<sys::CalgaryEvent>::zeroed();
    let mut x = std::mem::MaybeUninit::<sys::CalgaryXlate>::zeroed();
    unsafe {
        // test_chip's configuration, with a TCE reader.
        let mut cfg = std::mem::MaybeUninit::<sys::CalgaryChipConfig>::zeroed().assume_init();
        cfg.variant = sys::CALGARY_VARIANT_CALGARY;
        cfg.bbar = 0xfef0_0000;
        cfg.cache_policy = sys::CALGARY_CACHE_FAITHFUL;
        cfg.cache_entries = 64;
        cfg.cache_ways = 4;
        cfg.cache_line = 1;
        cfg.tce_block = 1;
        for p in 0..4u8 {
            cfg.phb[p as usize].first_bus = 0x20 + 4 * p;
            cfg.phb[p as usize].last_bus = 0x20 + 4 * p;
            cfg.phb[p as usize].mem1_start = 0xe000_0000;
            cfg.phb[p as usize].mem1_limit = 0xffff_ffff;
        }
        let chip = calgary_chip_new(
            &cfg,
            Some(tce_reader),
            std::ptr::null_mut(),
            err.as_mut_ptr(),
            err.len(),
        );
        assert!(!chip.is_null());
        calgary_mmio_write(chip, 0x588, 8, 0x0100_0000, ev.as_mut_ptr()); // TAR 1
        calgary_mmio_write(chip, 0x9160, 4, 0x2000_0000, ev.as_mut_ptr()); // enable
        assert!(calgary_translate(
            chip,
            1,
            0x5000,
            sys::CALGARY_ACCESS_READ,
            0x24,
            8,
            x.as_mut_ptr()
        ));
        chip
    }
}

fn images(room: u32, buf: &mut [Vec<sys::CalgaryCacheLine>; 4]) -> [sys::CalgaryPhbImage; 4] {
    std::array::from_fn(|p| {
        buf[p] = vec![unsafe { std::mem::zeroed() }; room as usize];
        let mut img: sys::CalgaryPhbImage = unsafe { std::mem::zeroed() };
        img.lines = buf[p].as_mut_ptr();
        img.n_lines = room;
        img
    })
}

#[test]
fn migration_image_round_trips_through_the_c_abi() {
    let mut err = [0 as c_char; 160];
    let a = caching_chip();
    let mut buf_a: [Vec<sys::CalgaryCacheLine>; 4] = Default::default();
    let mut img = images(64, &mut buf_a);
    unsafe {
        assert!(calgary_state_export(
            a,
            img.as_mut_ptr(),
            err.as_mut_ptr(),
            err.len()
        ));
        assert_eq!(img[1].n_lines, 1);
        assert_eq!(img[0].n_lines, 0);
        assert_eq!(img[1].regs[1], 0x0100_0000, "TAR of PHB 1");
        assert_eq!(img[1].stats[0], 1, "one translation");

        // A fresh chip takes the image and gives back the same fields.
        let b = caching_chip();
        calgary_chip_reset(b);
        assert!(calgary_state_import(
            b,
            img.as_ptr(),
            err.as_mut_ptr(),
            err.len()
        ));
        let mut buf_b: [Vec<sys::CalgaryCacheLine>; 4] = Default::default();
        let mut back = images(64, &mut buf_b);
        assert!(calgary_state_export(
            b,
            back.as_mut_ptr(),
            err.as_mut_ptr(),
            err.len()
        ));
        for p in 0..4 {
            assert_eq!(back[p].regs, img[p].regs);
            assert_eq!(back[p].stats, img[p].stats);
            assert_eq!(back[p].n_lines, img[p].n_lines);
        }
        assert_eq!(buf_b[1][0].tce, buf_a[1][0].tce);
        assert_eq!(buf_b[1][0].tag, 5);
        calgary_chip_free(a);
        calgary_chip_free(b);
    }
}

#[test]
fn migration_export_and_import_refuse_cleanly() {
    let mut err = [0 as c_char; 160];
    let a = caching_chip();
    unsafe {
        // No room for PHB 1's cached line: refused, with a message.
        let mut none: [Vec<sys::CalgaryCacheLine>; 4] = Default::default();
        let mut img = images(0, &mut none);
        assert!(!calgary_state_export(
            a,
            img.as_mut_ptr(),
            err.as_mut_ptr(),
            err.len()
        ));
        assert!(err_str(&err).contains("cache lines"), "{}", err_str(&err));
        assert!(!calgary_state_export(
            std::ptr::null_mut(),
            img.as_mut_ptr(),
            err.as_mut_ptr(),
            err.len()
        ));

        // CSR set without a latched fault: refused, chip unchanged.
        let mut buf: [Vec<sys::CalgaryCacheLine>; 4] = Default::default();
        let mut img = images(64, &mut buf);
        assert!(calgary_state_export(
            a,
            img.as_mut_ptr(),
            err.as_mut_ptr(),
            err.len()
        ));
        let tar = img[1].regs[1];
        img[1].regs[1] = 0x0200_0000;
        img[1].regs[4] = 0x8000_0000;
        assert!(!calgary_state_import(
            a,
            img.as_ptr(),
            err.as_mut_ptr(),
            err.len()
        ));
        assert!(err_str(&err).contains("CSR"), "{}", err_str(&err));
        let mut buf2: [Vec<sys::CalgaryCacheLine>; 4] = Default::default();
        let mut now = images(64, &mut buf2);
        assert!(calgary_state_export(
            a,
            now.as_mut_ptr(),
            err.as_mut_ptr(),
            err.len()
        ));
        assert_eq!(now[1].regs[1], tar);

        // Register names as the shim's vmstate fields use them.
        let name = |i| {
            let p = calgary_reg_name(i);
            (!p.is_null()).then(|| CStr::from_ptr(p).to_string_lossy().into_owned())
        };
        assert_eq!(name(1).as_deref(), Some("TAR"));
        assert_eq!(name(4).as_deref(), Some("CSR"));
        assert_eq!(name(34).as_deref(), Some("PAGE_MIG_CTRL"));
        assert_eq!(name(sys::CALGARY_REG_COUNT), None);
        calgary_chip_free(a);
    }
}
