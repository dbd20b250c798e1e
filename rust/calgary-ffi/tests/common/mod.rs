//! Shared by the FFI tests and the translate benchmark: the chip they all
//! build (one chassis at BBAR 0xfef00000, PHB buses 0x20, 0x24, 0x28 and
//! 0x2c, a faithful 64-entry 4-way TCE cache).

use calgary_ffi::sys;

pub fn chip_config(variant: u32, cache_line: u32) -> sys::CalgaryChipConfig {
    let phb = |p: u8| sys::CalgaryPhbConfig {
        first_bus: 0x20 + 4 * p,
        last_bus: 0x20 + 4 * p,
        mem1_start: 0xe000_0000,
        mem1_limit: 0xffff_ffff,
    };
    sys::CalgaryChipConfig {
        variant,
        bbar: 0xfef0_0000,
        chassis: 0,
        cache_policy: sys::CALGARY_CACHE_FAITHFUL,
        cache_entries: 64,
        cache_ways: 4,
        cache_line,
        tce_block: 1,
        phb: [phb(0), phb(1), phb(2), phb(3)],
    }
}
