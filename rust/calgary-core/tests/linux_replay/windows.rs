//! The IO-space reservations Linux makes against the model's untranslated
//! windows (MEM_1 placement).

use super::*;

#[test]
fn linux_mem_windows_reserved_match_model_windows() {
    // Every IO page Linux leaves free is one the model translates, every
    // page it reserves (except emergency pages) the model passes through.
    for variant in [Variant::Calgary, Variant::CalIoc2] {
        let mut l = boot(variant, CachePolicy::Off);
        l.init_one(0x10, 7);
        let bitmap = l.tbl(0x10).bitmap.bits.clone();
        for (i, reserved) in bitmap.iter().enumerate().step_by(97) {
            let r = l.chip.translate(
                0,
                (i as u64) << 12,
                Direction::Read,
                Access::Probe,
                DEV,
                &l.mem,
            );
            if i < EMERGENCY_PAGES && !(variant == Variant::CalIoc2) {
                continue;
            }
            match r {
                Ok(t) => assert!(
                    *reserved && t.kind == XlateKind::Window,
                    "{variant} page {i:#x}"
                ),
                Err(f) => assert!(
                    !reserved && f.reason == FaultReason::NotValid,
                    "{variant} page {i:#x}"
                ),
            }
        }
    }
}

/// `calgary_reserve_regions` of a 2.6.21+ kernel on PHB 0 of a chip whose
/// MEM_1 starts at `mem1_start` (and ends at 0xFFFFFFFF), for a table of
/// size code `size_code`.
fn reserve_on(
    variant: Variant,
    mem1_start: u64,
    size_code: u64,
) -> (ItMap, Vec<linux::Reservation>) {
    let mut cfg = cfg(variant, CachePolicy::Off);
    for p in cfg.phbs.iter_mut() {
        p.mem1_start = mem1_start;
        p.mem1_limit = 0xFFFF_FFFF;
    }
    let mut chip = Chip::new(cfg).unwrap();
    let mut map = ItMap::new(size_code);
    let done = linux::calgary_reserve_regions(&mut chip, 0, &mut map, LOW_RESERVE_2_6_21);
    (map, done)
}

/// The MEM_1 start this machine used first: the below-4G RAM top, 1 MiB
/// aligned down.  Kept here to show what the replay catches.
fn mem1_start_at_ram_top(below_4g: u64) -> u64 {
    below_4g & !0xF_FFFF
}

#[test]
fn linux_reservation_overruns_bitmap_when_mem1_starts_at_the_ram_top() {
    // (-m in MiB, RAM-sized code Linux 2.6.18-3.10 picks, bitmap KiB,
    //  KiB written past it): the figures of linux-driver-history.md.
    for (mib, code, bitmap_kib, past_kib) in [
        (384u64, 4u64, 16usize, 112usize),
        (768, 5, 32, 96),
        (1536, 6, 64, 64),
    ] {
        let ram = mib << 20;
        assert_eq!(
            linux::ram_sized_code(linux::qemu_i440fx_max_pfn(ram)),
            code,
            "-m {mib}M"
        );
        let start = mem1_start_at_ram_top(linux::qemu_i440fx_below_4g(ram));
        for variant in [Variant::Calgary, Variant::CalIoc2] {
            let (map, done) = reserve_on(variant, start, code);
            assert_eq!(map.bitmap_bytes(), bitmap_kib << 10, "-m {mib}M");
            assert_eq!(
                map.overrun_bytes(),
                past_kib << 10,
                "-m {mib}M {variant}: {done:x?}"
            );
            // The bitmap fills whole pages, so all of it lands on other
            // kernel memory.
            assert_eq!(map.overrun_past_alloc_bytes(), past_kib << 10);
        }
    }
}

#[test]
fn linux_reservation_clamps_the_start_not_the_length() {
    // A window starting beyond the table is skipped; one starting inside
    // keeps its full length.
    let (map, _) = reserve_on(Variant::Calgary, 0x0200_0000, 0); // 32 MiB = it_size
    assert_eq!(map.overrun_bits(), 0);
    assert_eq!(map.max_end, 256, "only the low MiB (MEM_2) and below");
    let (map, _) = reserve_on(Variant::Calgary, 0x01F0_0000, 0); // 1 MiB before the end
    assert_eq!(
        map.overrun_bits(),
        ((1u64 << 32) - 0x0200_0000) as usize >> 12
    );
}

#[test]
fn linux_reservation_never_overruns_for_any_ram_size_or_table_size() {
    // Every -m from 128 MiB to 3.5 GiB in 128 MiB steps, every size code
    // (calgary=64k..8M) and the RAM-sized code of 2.6.18-3.10, both
    // variants: MEM_1 at the core's reset start never makes Linux write
    // past its bitmap, and Linux never hands out an IO page inside it.
    let mut overruns = Vec::new();
    let mut checked = 0;
    for step in 1..=28u64 {
        let ram = step << 27;
        let below = linux::qemu_i440fx_below_4g(ram);
        let start = platform::mem1_start(below);
        assert!(start >= below, "-m {}M: MEM_1 covers RAM", ram >> 20);
        // The RAM-sized code is one of 0..7, so it is among the codes
        // below; it is named in the report.
        let ram_code = linux::ram_sized_code(linux::qemu_i440fx_max_pfn(ram));
        assert!(ram_code <= 7);
        for variant in [Variant::Calgary, Variant::CalIoc2] {
            for code in 0..8u64 {
                let (map, done) = reserve_on(variant, start, code);
                checked += 1;
                if map.overrun_bits() != 0 {
                    let mem1 = done.iter().find(|r| r.what == "MEM_1").unwrap();
                    overruns.push(format!(
                        "-m {}M {variant} code {code}{}: MEM_1 at {start:#x} ({:#x} pages) writes {} KiB past a {} KiB bitmap",
                        ram >> 20,
                        if code == ram_code { " (RAM-sized)" } else { "" },
                        mem1.npages,
                        map.overrun_bytes() >> 10,
                        map.bitmap_bytes() >> 10
                    ));
                    continue;
                }
                let first = (start >> 12) as usize;
                assert!(
                    map.bits.iter().skip(first).all(|b| *b),
                    "-m {}M {variant} code {code}: a page of MEM_1 left free",
                    ram >> 20
                );
            }
        }
    }
    assert_eq!(checked, 28 * 2 * 8);
    assert!(
        overruns.is_empty(),
        "{} of {checked} cases overrun:\n{}",
        overruns.len(),
        overruns.join("\n")
    );
}
