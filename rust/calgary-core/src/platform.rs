//! What the platform around the chip looks like: where the firmware puts
//! the 32-bit PCI hole, and so where the MEM_1 peripheral window of every
//! PHB starts at reset (`calgary-hardware.md` §3, model decision).

/// Last address of the MEM_1 window at reset: the 32-bit PCI hole runs to
/// the top of the 4 GiB space (IOAPIC, HPET, MSI, BBARs and BIOS included),
/// and no window ends above 4 GiB.
pub const MEM1_LIMIT: u64 = 0xFFFF_FFFF;

const GIB: u64 = 1 << 30;

/// Where the firmware starts the 32-bit PCI hole of an i440fx machine with
/// `below_4g_ram` bytes of RAM below 4 GiB — the reset start of MEM_1.
///
/// This is SeaBIOS's rule (`pci_setup` sets `pcimem_start = RamSize`, then
/// `i440fx_mem_addr_setup` raises it), where `RamSize` is the top of the
/// RAM below 4 GiB that QEMU reports:
///
/// | below-4G RAM | hole starts at |
/// |---|---|
/// | ≤ 2 GiB (2 GiB included) | 2 GiB (0x8000_0000) |
/// | ≤ 3 GiB (3 GiB included) | 3 GiB (0xC000_0000) |
/// | above 3 GiB | the RAM top itself |
///
/// Firmware places 32-bit BARs only inside `[start, 0xFEC0_0000)`, so a
/// MEM_1 window from here to [`MEM1_LIMIT`] covers every BAR and no RAM.
/// With at most 3 GiB of RAM the start is 2 or 3 GiB, a multiple of every
/// TCE table's IO span up to 2 GiB (size codes 0..6): such a table ends at
/// or below the window start and a size-7 table ends where the window
/// ends, so Linux's reservation of MEM_1 (start clamped to the table,
/// length not) never runs past its bitmap.  Above 3 GiB of RAM Linux
/// 2.6.18–3.10 sizes the table at code 7 (4 GiB of IO space) by itself.
pub fn mem1_start(below_4g_ram: u64) -> u64 {
    if below_4g_ram <= 2 * GIB {
        2 * GIB
    } else if below_4g_ram <= 3 * GIB {
        3 * GIB
    } else {
        below_4g_ram
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn seabios_i440fx_rule_at_and_around_the_boundaries() {
        const MIB: u64 = 1 << 20;
        for (ram, start) in [
            (0, 0x8000_0000),
            (128 * MIB, 0x8000_0000),
            (384 * MIB, 0x8000_0000),
            (2 * GIB - 1, 0x8000_0000),
            (2 * GIB, 0x8000_0000),
            (2 * GIB + 1, 0xC000_0000),
            (2 * GIB + MIB, 0xC000_0000),
            (3 * GIB, 0xC000_0000),
            (3 * GIB + 1, 3 * GIB + 1),
            (3 * GIB + 256 * MIB, 0xD000_0000),
            (0xE000_0000, 0xE000_0000),
        ] {
            assert_eq!(mem1_start(ram), start, "below-4G RAM {ram:#x}");
        }
    }

    #[test]
    fn window_never_covers_ram_and_always_reaches_4g() {
        for mib in 0..=(4096u64 - 1) {
            let ram = mib << 20;
            let s = mem1_start(ram);
            assert!(s >= ram, "{mib} MiB");
            assert!(s <= MEM1_LIMIT, "{mib} MiB");
        }
    }
}
