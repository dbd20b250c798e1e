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

/// `calgary_chip_new` on `cfg` without a TCE reader: the chip, or the
/// error text it gave.
#[allow(dead_code)] // not every user of this module builds chips this way
pub fn new_chip(cfg: &sys::CalgaryChipConfig) -> Result<*mut sys::CalgaryChip, String> {
    let mut err = [0 as std::ffi::c_char; 160];
    // SAFETY: a valid config and error buffer; no TCE reader.
    let c = unsafe {
        calgary_ffi::calgary_chip_new(cfg, None, std::ptr::null_mut(), err.as_mut_ptr(), err.len())
    };
    if c.is_null() {
        // SAFETY: calgary_chip_new wrote a NUL-terminated message.
        Err(unsafe { std::ffi::CStr::from_ptr(err.as_ptr()) }
            .to_string_lossy()
            .into_owned())
    } else {
        Ok(c)
    }
}
