//! Platform and firmware exports: cache geometry and platform layout checks,
//! MEM_1 placement, the device scan at machine-done, and the Rio table
//! option ROM. Shared constants the header repeats are checked here at
//! compile time against the core.

use super::*;

pub(crate) fn cache_config(policy: u32, entries: u32, ways: u32) -> Result<CacheConfig, String> {
    let policy = match policy {
        sys::CALGARY_CACHE_OFF => CachePolicy::Off,
        sys::CALGARY_CACHE_COHERENT => CachePolicy::Coherent,
        sys::CALGARY_CACHE_FAITHFUL => CachePolicy::Faithful,
        other => {
            return Err(format!(
                "invalid tce-cache policy {other} (accepted: off, coherent, faithful)"
            ))
        }
    };
    let cfg = CacheConfig {
        policy,
        entries,
        ways,
    };
    cfg.validate().map_err(|e| {
        let prop = match e {
            calgary_core::ConfigError::CacheWaysOutOfRange(_)
            | calgary_core::ConfigError::CacheWaysDoNotDivideEntries { .. } => "tce-cache-ways",
            _ => "tce-cache-entries",
        };
        format!("invalid {prop}: {e}")
    })?;
    Ok(cfg)
}

/// See `calgary-ffi.h`.
///
/// # Safety
/// Pointer arguments are valid for the access the header describes, or NULL.
#[no_mangle]
pub unsafe extern "C" fn calgary_cache_config_check(
    policy: u32,
    entries: u32,
    ways: u32,
    err: *mut c_char,
    err_len: usize,
) -> bool {
    guard("calgary_cache_config_check", false, || {
        match catch_unwind(|| cache_config(policy, entries, ways)) {
            Ok(Ok(_)) => true,
            Ok(Err(msg)) => {
                put_str(err, err_len, &msg);
                false
            }
            Err(_) => {
                put_str(err, err_len, "internal error checking the cache geometry");
                false
            }
        }
    })
}
check_abi!(calgary_cache_config_check: unsafe extern "C" fn(u32, u32, u32, *mut c_char, usize) -> bool);

/// See `calgary-ffi.h`: [`calgary_core::platform::mem1_start`].
#[no_mangle]
pub extern "C" fn calgary_mem1_start(below_4g_ram: u64) -> u64 {
    guard("calgary_mem1_start", 0, || {
        calgary_core::platform::mem1_start(below_4g_ram)
    })
}
check_abi!(calgary_mem1_start: unsafe extern "C" fn(u64) -> u64);

const _: () = assert!(sys::CALGARY_BUS_BASE == layout::RIO_BUS_BASE as u32);
const _: () = assert!(sys::CALGARY_BUS_STRIDE == layout::RIO_BUS_STRIDE as u32);
const _: () = assert!(sys::CALGARY_MAX_CHIPS as usize == calgary_core::MAX_CHIPS);

fn platform(layout: u32, bus0_phb: bool, chips: u32) -> Result<layout::Platform, String> {
    let layout = match layout {
        sys::CALGARY_LAYOUT_RIO => layout::Layout::Rio,
        sys::CALGARY_LAYOUT_LEGACY => layout::Layout::Legacy,
        other => return Err(format!("invalid layout {other} (accepted: rio, legacy)")),
    };
    let chips = usize::try_from(chips).map_err(|_| format!("invalid chips {chips}"))?;
    layout::Platform::new(layout, bus0_phb, chips).map_err(|e| e.to_string())
}

/// See `calgary-ffi.h`.
///
/// # Safety
/// Pointer arguments are valid for the access the header describes, or NULL.
#[no_mangle]
pub unsafe extern "C" fn calgary_platform_layout(
    layout: u32,
    bus0_phb: bool,
    chips: u32,
    out: *mut sys::CalgaryPlatform,
    err: *mut c_char,
    err_len: usize,
) -> bool {
    guard("calgary_platform_layout", false, || {
        let made = catch_unwind(|| {
            let p = platform(layout, bus0_phb, chips)?;
            let mut o = sys::CalgaryPlatform {
                bbar: [0; 4],
                bus: [[0; 4]; 4],
            };
            for c in 0..p.chips() {
                let bbar = p.bbar(c).ok_or("no BBAR for a chip")?;
                let row = o.bus.get_mut(c).ok_or("chip out of range")?;
                for (q, b) in row.iter_mut().enumerate() {
                    *b = p.phb_bus(c, q).ok_or("no bus for a PHB")?;
                }
                *o.bbar.get_mut(c).ok_or("chip out of range")? = bbar;
            }
            Ok::<_, String>(o)
        });
        match made {
            Ok(Ok(o)) => {
                // SAFETY: the caller gives a writable CalgaryPlatform or NULL.
                if let Some(out) = unsafe { out.as_mut() } {
                    *out = o;
                }
                true
            }
            Ok(Err(msg)) => {
                put_str(err, err_len, &msg);
                false
            }
            Err(_) => {
                put_str(err, err_len, "internal error laying out the platform");
                false
            }
        }
    })
}
check_abi!(calgary_platform_layout: unsafe extern "C" fn(u32, bool, u32, *mut sys::CalgaryPlatform, *mut c_char, usize) -> bool);

/// See `calgary-ffi.h`.
///
/// # Safety
/// Pointer arguments are valid for the access the header describes, or NULL.
#[no_mangle]
pub unsafe extern "C" fn calgary_platform_check_devices(
    layout: u32,
    bus0_phb: bool,
    chips: u32,
    bars: *const sys::CalgaryPciBar,
    n_bars: usize,
    bridge_bdf: i32,
    err: *mut c_char,
    err_len: usize,
) -> bool {
    guard("calgary_platform_check_devices", false, || {
        let bars: &[sys::CalgaryPciBar] = if bars.is_null() || n_bars == 0 {
            &[]
        } else {
            // SAFETY: the caller gives `n_bars` BARs.
            unsafe { std::slice::from_raw_parts(bars, n_bars) }
        };
        let checked = catch_unwind(|| {
            let p = platform(layout, bus0_phb, chips)?;
            if let Ok(bdf) = u16::try_from(bridge_bdf) {
                if !p.allows_bridges() {
                    let [bus, devfn] = bdf.to_be_bytes();
                    return Err(
                        layout::LayoutError::BridgeInLegacyLayout { bus, devfn }.to_string()
                    );
                }
            }
            let list: Vec<layout::PciBar> = bars
                .iter()
                .map(|b| layout::PciBar {
                    size: b.size,
                    kind: match b.kind {
                        sys::CALGARY_BAR_MEM => layout::BarKind::Mem,
                        sys::CALGARY_BAR_PREFETCH => layout::BarKind::Prefetch,
                        sys::CALGARY_BAR_ROM => layout::BarKind::Rom,
                        _ => layout::BarKind::Io,
                    },
                })
                .collect();
            p.check_firmware_bars(&list).map_err(|e| e.to_string())
        });
        match checked {
            Ok(Ok(())) => true,
            Ok(Err(msg)) => {
                put_str(err, err_len, &msg);
                false
            }
            Err(_) => {
                put_str(err, err_len, "internal error checking the PCI devices");
                false
            }
        }
    })
}
check_abi!(calgary_platform_check_devices: unsafe extern "C" fn(u32, bool, u32, *const sys::CalgaryPciBar, usize, i32, *mut c_char, usize) -> bool);

/// See `calgary-ffi.h`.
///
/// # Safety
/// Pointer arguments are valid for the access the header describes, or NULL.
#[no_mangle]
pub unsafe extern "C" fn calgary_rio_option_rom(
    chips: *const sys::CalgaryRioChip,
    n: u32,
    buf: *mut u8,
    len: usize,
) -> usize {
    guard("calgary_rio_option_rom", 0, || {
        if chips.is_null() || n == 0 {
            return 0;
        }
        // SAFETY: the caller gives `n` chips.
        let chips = unsafe { std::slice::from_raw_parts(chips, n as usize) };
        let made = catch_unwind(|| {
            let list: Option<Vec<rio::RioChip>> = chips
                .iter()
                .map(|c| {
                    Some(rio::RioChip {
                        bbar: c.bbar,
                        variant: variant_of(c.variant)?,
                        chassis: c.chassis,
                        node: c.node,
                    })
                })
                .collect();
            let table = rio::build(&list?).ok()?;
            rom::rio_option_rom(&table)
        });
        let Ok(Some(image)) = made else {
            return 0;
        };
        if !buf.is_null() && len >= image.len() {
            // SAFETY: the caller gave `len` writable bytes.
            unsafe { std::ptr::copy_nonoverlapping(image.as_ptr(), buf, image.len()) };
        }
        image.len()
    })
}
check_abi!(calgary_rio_option_rom: unsafe extern "C" fn(*const sys::CalgaryRioChip, u32, *mut u8, usize) -> usize);
