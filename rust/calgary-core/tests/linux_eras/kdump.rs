//! kdump: the capture kernel meets the crashed kernel's TAR, tables and
//! latched errors.

use super::*;

/// What the crashed kernel leaves behind: PHB 0 with live mappings, PHB 1
/// disabled by the watchdog, PHB 2 with an error latched that the watchdog
/// has not seen yet.
struct Crashed {
    k: Kernel,
    mapped: Vec<(u64, u64)>,
    latched_csr: u32,
}

fn crashed(era: Era, ram: u64) -> Crashed {
    let mut k = boot(era, Variant::Calgary, ram);
    let mut mapped = Vec::new();
    for (i, phys) in [0x0111_0000u64, 0x0222_0000, 0x0333_0000]
        .iter()
        .enumerate()
    {
        let a = k.map(0x20, *phys, 1 + i, false).unwrap();
        assert_eq!(k.dma(0x20, a, Direction::Write).unwrap().phys, *phys);
        mapped.push((a, *phys));
    }
    // PHB 1: errant DMA, the watchdog disables the slot.
    k.dma(0x24, 0x0070_0000, Direction::Read).unwrap_err();
    assert!(k.watchdog(0x24));
    // PHB 2: errant DMA, no watchdog tick before the crash.
    let f = k.dma(0x28, 0x0071_0000, Direction::Write).unwrap_err();
    assert!(f.newly_latched);
    let latched_csr = k.chip.phb_csr(2);
    assert_ne!(latched_csr & regs::CSR_AGENT_MASK, 0);
    Crashed {
        k,
        mapped,
        latched_csr,
    }
}

/// The capture kernel (2.6.27+ code path) with size code `capture_code`.
fn capture(c: Crashed, era: Era, capture_code: u64) -> (Kernel, Vec<(u64, u64)>, u32) {
    let mut k = c.k.crash_into(era, capture_code);
    assert!(k.detect());
    k.init().unwrap();
    (k, c.mapped, c.latched_csr)
}

#[test]
fn kdump_matching_size_code_keeps_old_mappings_and_state() {
    // 2.6.27-3.10: both kernels size the table from the same RAM
    // (saved_max_pfn = the crashed kernel's max_pfn).
    for ram in [384 * MIB, 1536 * MIB] {
        let code = V2_6_27.table_size(ram);
        let c = crashed(V2_6_27, ram);
        let old_tar = c.k.chip.tar(0);
        let saved_max_pfn = linux::qemu_i440fx_max_pfn(ram);
        assert_eq!(V2_6_27.kdump_table_size(saved_max_pfn), code);
        let (mut k, mapped, latched) = capture(c, V2_6_27, code);
        // get_tce_space_from_tar read TAR, then TAR was rewritten with the
        // same value (a flush, nothing else).
        assert_eq!(k.tbls[0].it_base, TABLE_BASE);
        assert_eq!(k.chip.tar(0), old_tar);
        assert_eq!(k.chip.table_entries(0), 8192 << code);
        // The bitmap rebuilt from non-zero TCEs holds the old mappings.
        for (a, _) in &mapped {
            assert!(k.tbls[0].map.bits[(*a >> 12) as usize]);
        }
        // In-flight DMA of the old kernel still lands where it was mapped.
        for (a, phys) in &mapped {
            assert_eq!(k.dma(0x20, *a, Direction::Write).unwrap().phys, *phys);
        }
        // The capture kernel's own mapping never reuses an old one.
        let n = k.map(0x20, 0x0444_0000, 1, false).unwrap();
        assert!(mapped.iter().all(|(a, _)| a >> 12 != n >> 12));
        assert_eq!(k.dma(0x20, n, Direction::Read).unwrap().phys, 0x0444_0000);
        k.blast(0x20);
        assert_eq!(k.dma(0x20, n, Direction::Read).unwrap().phys, 0x0444_0000);
        // PHB 1 was disabled before the crash: enable only ORs bits, so it
        // stays disabled and everything behind it is blocked.
        assert_ne!(
            k.chip.reg(1, regs::RegId::PhbConfigRw) as u32 & regs::PHB_SLOT_DISABLE,
            0
        );
        assert_eq!(
            k.dma(0x24, 0x0010_0000, Direction::Read)
                .unwrap_err()
                .reason,
            FaultReason::SlotDisabled
        );
        // PHB 2's latched error survived kexec: the capture kernel's first
        // watchdog tick reports it and disables that slot.
        assert_eq!(k.chip.phb_csr(2), latched);
        assert!(k.watchdog(0x28));
        let want = format!(
            "Calgary: DMA error on Calgary PHB 0x28, {latched:#010x}@CSR {:#010x}@PLSSR",
            0x0071_0000
        );
        assert!(k.log.contains(&want), "{:?}", k.log);
    }
}

#[test]
fn kdump_capture_code_larger_than_crashed_code_grows_the_table_in_place() {
    // 2.6.27-3.10 kdump kernel booted without memmap=exactmap:
    // saved_max_pfn is 0, get_order(0) clamps to 7, while the crashed
    // kernel used the RAM-sized code (4 at -m 384M).  TAR & ~7 keeps the
    // aligned table address; TAR becomes table | 4 | 7 = code 7.
    let ram = 384 * MIB;
    let old = V2_6_27.table_size(ram);
    assert_eq!(old, 4);
    let new = V2_6_27.kdump_table_size(0);
    assert_eq!(new, 7);
    let (mut k, mapped, _) = capture(crashed(V2_6_27, ram), V2_6_27, new);
    assert_eq!(k.tbls[0].it_base, TABLE_BASE);
    assert_eq!(k.chip.tar(0), TABLE_BASE | 7);
    // The model follows TAR: the table now has 1 M entries; the old
    // mappings sit at the same indexes and keep translating.
    assert_eq!(k.chip.table_entries(0), 1 << 20);
    for (a, phys) in &mapped {
        assert_eq!(k.dma(0x20, *a, Direction::Write).unwrap().phys, *phys);
    }
    // Beyond the crashed kernel's table the model reads the RAM that
    // follows it (zero here): not valid rather than out of range.
    let past = (8192u64 << old) << 12;
    assert_eq!(
        k.dma(0x20, past, Direction::Read).unwrap_err().reason,
        FaultReason::NotValid
    );
    let n = k.map(0x20, 0x0555_0000, 1, false).unwrap();
    assert_eq!(k.dma(0x20, n, Direction::Write).unwrap().phys, 0x0555_0000);
}

#[test]
fn kdump_capture_code_smaller_than_crashed_code_misplaces_new_tces() {
    // 3.16+: the crashed kernel used the fixed code 7; a capture kernel
    // that has saved_max_pfn sizes its table from RAM (4 at -m 384M).
    // get_tce_space_from_tar masks with ~4 only, so its table pointer is
    // TABLE_BASE | 3 and TAR is rewritten as table | 3 | 4 = code 7.
    let ram = 384 * MIB;
    assert_eq!(V3_16.table_size(ram), 7);
    let new = V3_16.kdump_table_size(linux::qemu_i440fx_max_pfn(ram));
    assert_eq!(new, 4);
    let (mut k, mapped, _) = capture(crashed(V3_16, ram), V3_16, new);
    assert_eq!(k.tbls[0].it_base, TABLE_BASE | 3);
    assert_eq!(k.chip.tar(0), TABLE_BASE | 7, "size code unchanged: 3 | 4");
    assert_eq!(k.chip.table_entries(0), 1 << 20);
    // The old mappings keep translating (TAR still points at them).
    for (a, phys) in &mapped {
        assert_eq!(k.dma(0x20, *a, Direction::Write).unwrap().phys, *phys);
    }
    // The capture kernel writes its TCEs 3 bytes off.  The model reads the
    // entry the hardware reads — the 8 aligned bytes at TABLE_BASE + 8 *
    // index — and does not guess what the kernel meant: the DMA goes where
    // those bytes say, or is blocked when their permission bits are 0.
    let n = k.map(0x20, 0x0666_0000, 1, false).unwrap();
    assert_eq!(n >> 12, 262, "after the low MiB and the 6 old pages");
    // The kernel meant 0x0666_0000 | read | write.  Big-endian bytes
    // 00 00 00 00 06 66 00 03 land at byte 3 of entry 262: the hardware's
    // entry 262 is 00 00 00 | 00 00 00 00 06 = 0x6 (write only, page 0);
    // bytes 66 00 03 go to the top of entry 263.
    assert_eq!(k.mem.read_raw_u64_be(TABLE_BASE + 8 * 262), 0x6);
    assert_eq!(
        k.mem.read_raw_u64_be(TABLE_BASE + 8 * 263),
        0x6600_0300_0000_0000
    );
    // A device write meant for 0x0666_0000 lands in page 0; a device read
    // is blocked (no read permission).
    assert_eq!(k.dma(0x20, n, Direction::Write).unwrap().phys, 0);
    assert_eq!(
        k.dma(0x20, n, Direction::Read).unwrap_err().reason,
        FaultReason::WriteOnly
    );
    // Entry 263 has its top bytes set and no permission bit: not valid.
    assert_eq!(
        k.dma(0x20, 263 << 12, Direction::Read).unwrap_err().reason,
        FaultReason::NotValid
    );
}
