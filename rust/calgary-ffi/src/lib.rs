//! C ABI of the Calgary model core, linked into `qemu-system-x86_64`.
//!
//! The boundary is declared once, in `c-shim/calgary-ffi.h`; `build.rs` runs
//! bindgen on it and [`sys`] is the result.  Every exported function below is
//! checked against bindgen's declaration at compile time (see `check_abi!`),
//! so a header change that the Rust side does not follow fails the build.
//!
//! Every entry point catches panics and fails closed: a DMA is blocked, a
//! register reads 0, and the chip is marked broken (all later DMA blocked).
//! Nothing is allocated or formatted on the translation path.
//!
//! # Locking
//!
//! The core knows nothing of threads; this layer owns the locks. A chip is
//! split into its four PHBs and a chip-level part ([`ChipBox`]):
//!
//! * each PHB's state (`calgary_core::Phb`: registers, latched error, TCE
//!   cache, statistics, injections) sits under its own mutex;
//! * the chip-level values a PHB operation reads (variant, cache policy,
//!   line fill, name) are fixed at creation and read without a lock
//!   (`ChipView`); the name is set once;
//! * the broken flag is one atomic for the whole chip;
//! * a `Mutex<Chip>` is where whole-chip operations run: snapshot save and
//!   load, migration export/import, reset, injection, statistics and the
//!   monitor summary. Its PHB slots hold spare copies; the operation moves
//!   the PHBs it needs in (`Chip::swap_phb`) and back out afterwards.
//!
//! `calgary_translate` and `calgary_mmio_read`/`_write` lock exactly one
//! PHB (an MMIO access decodes to one PHB; the chip-wide registers live in
//! PHB 0's register file), so translation on PHB B never waits for MMIO or
//! translation on PHB A. Lock order, the only one used: the chip-level
//! mutex first, then PHB mutexes in ascending PHB number; a thread holding
//! a PHB mutex takes no other lock of this crate. No panic happens while a
//! guard is live outside `catch_unwind`, so the mutexes are never poisoned
//! in practice (reset clears a poison anyway).
//!
//! Memory ordering: a flush is a TAR write under the PHB's mutex. A
//! translation that locks the mutex after the writer released it sees the
//! flushed cache and the new TAR; the guest's TCE stores were made before
//! its TAR write, so the fetch that follows sees them.

#![deny(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::ffi::{c_char, c_void};
use std::fmt::Write as _;
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Mutex, MutexGuard, OnceLock};

use calgary_core::{
    layout, rio, Access, CacheConfig, CachePolicy, Chip, ChipConfig, ChipView, Direction,
    FaultReason, GuestMemory, MmioEvent, Phb, PhbConfig, Requester, Variant, XlateKind,
    PHBS_PER_CHIP,
};

/// bindgen's view of `c-shim/calgary-ffi.h`.
#[allow(
    non_camel_case_types,
    non_snake_case,
    non_upper_case_globals,
    dead_code
)]
#[allow(clippy::all)]
pub mod sys {
    include!(concat!(env!("OUT_DIR"), "/calgary_ffi_sys.rs"));
}

mod logger;
mod rom;

/// Compile-time check that our definition has the header's exact type.
macro_rules! check_abi {
    ($name:ident : $ty:ty) => {
        const _: [$ty; 2] = [sys::$name, $name];
    };
}

// After check_abi!, which they use.
mod inject;
mod migrate;
mod monitor;
mod platform;

pub use inject::{
    calgary_inject_count, calgary_inject_get_text, calgary_inject_info, calgary_inject_spec_apply,
    calgary_inject_text,
};
pub use migrate::*;
pub use monitor::*;
use platform::cache_config;
pub use platform::*;

struct HostMem {
    read_tce: sys::CalgaryReadTceFn,
    opaque: *mut c_void,
}

impl GuestMemory for HostMem {
    #[inline]
    fn read_u64_be(&self, addr: u64) -> Option<u64> {
        let f = self.read_tce?;
        let mut v = 0u64;
        // SAFETY: the shim's callback reads one TCE of guest RAM into `v`.
        if unsafe { f(self.opaque, addr, &mut v, 1) } {
            Some(v)
        } else {
            None
        }
    }

    #[inline]
    fn read_tce_line(&self, addr: u64, out: &mut [u64; calgary_core::TCE_LINE]) -> bool {
        let Some(f) = self.read_tce else {
            return false;
        };
        // SAFETY: the callback writes `out.len()` TCEs into `out`.
        unsafe { f(self.opaque, addr, out.as_mut_ptr(), out.len() as u32) }
    }
}

/// One PHB's state under its own lock, on its own cache lines (threads
/// translating on different PHBs do not share a line).
#[repr(align(128))]
struct PhbSlot(Mutex<Phb>);

/// Every PHB of a chip.
const ALL_PHBS: u8 = (1 << PHBS_PER_CHIP) - 1;

/// What `CalgaryChip *` points at. See the crate documentation, "Locking".
pub struct ChipBox {
    /// The chip-level part; whole-chip operations run here (lock first).
    chip: Mutex<Chip>,
    /// Each PHB's state (lock after `chip`, in ascending order).
    phbs: [PhbSlot; PHBS_PER_CHIP],
    /// Fixed at creation: read without a lock.
    cfg: ChipConfig,
    line_fill: bool,
    blocks: bool,
    /// Set once by `calgary_chip_set_name`.
    name: OnceLock<Box<str>>,
    mem: HostMem,
    broken: AtomicBool,
}

// SAFETY: `opaque` is the shim's device state, which outlives the chip and
// is only passed back to the shim's thread-safe `read_tce` callback.
unsafe impl Send for ChipBox {}
// SAFETY: as above; all mutable state is behind a Mutex or atomic.
unsafe impl Sync for ChipBox {}

impl ChipBox {
    fn new(chip: Chip, mem: HostMem) -> Option<ChipBox> {
        let slot = |i: usize| chip.phb(i).map(|p| PhbSlot(Mutex::new(p.clone())));
        let phbs = [slot(0)?, slot(1)?, slot(2)?, slot(3)?];
        Some(ChipBox {
            cfg: *chip.config(),
            line_fill: chip.line_fill(),
            blocks: chip.blocks(),
            chip: Mutex::new(chip),
            phbs,
            name: OnceLock::new(),
            mem,
            broken: AtomicBool::new(false),
        })
    }

    /// The chip-level values of a PHB operation (no lock).
    #[inline]
    fn view(&self) -> ChipView<'_> {
        ChipView::new(
            &self.cfg,
            self.line_fill,
            self.blocks,
            self.name.get().map(|n| &**n),
        )
    }

    /// Marks the chip broken (logged once) and returns `fail`.
    #[cold]
    fn fence<R>(&self, fail: R) -> R {
        if !self.broken.swap(true, Ordering::Relaxed) {
            log::error!(
                "calgary: the chip model failed; its DMA is blocked and its \
                 registers read 0 until the next reset"
            );
        }
        fail
    }

    /// Runs `f` on PHB `phb` alone, under that PHB's lock: the translation
    /// and MMIO path. `fail` for a broken chip, a PHB out of range or a
    /// panic (which also fences the chip off).
    #[inline]
    fn with_phb<R>(
        &self,
        phb: usize,
        fail: R,
        f: impl FnOnce(&mut Phb, ChipView<'_>, &HostMem) -> R,
    ) -> R {
        if self.broken.load(Ordering::Relaxed) {
            return fail;
        }
        let Some(slot) = self.phbs.get(phb) else {
            return fail;
        };
        let Ok(mut g) = slot.0.lock() else {
            return self.fence(fail);
        };
        let view = self.view();
        let r = catch_unwind(AssertUnwindSafe(|| f(&mut g, view, &self.mem)));
        drop(g);
        match r {
            Ok(v) => v,
            Err(_) => self.fence(fail),
        }
    }

    /// Runs `f` on the whole chip with the PHBs of mask `phbs` moved in
    /// (the others hold spare copies `f` must not read). Takes the
    /// chip-level lock, then those PHBs' locks in ascending order.
    fn with_phbs<R>(&self, phbs: u8, fail: R, f: impl FnOnce(&mut Chip, &HostMem) -> R) -> R {
        if self.broken.load(Ordering::Relaxed) {
            return fail;
        }
        let Ok(mut chip) = self.chip.lock() else {
            return self.fence(fail);
        };
        let mut guards: [Option<MutexGuard<'_, Phb>>; PHBS_PER_CHIP] = Default::default();
        for (i, (slot, g)) in self.phbs.iter().zip(guards.iter_mut()).enumerate() {
            if phbs & (1 << i) != 0 {
                match slot.0.lock() {
                    Ok(guard) => *g = Some(guard),
                    Err(_) => return self.fence(fail),
                }
            }
        }
        let swap = |chip: &mut Chip, guards: &mut [Option<MutexGuard<'_, Phb>>]| {
            for (i, g) in guards.iter_mut().enumerate() {
                if let Some(g) = g {
                    chip.swap_phb(i, g);
                }
            }
        };
        swap(&mut chip, &mut guards);
        let r = catch_unwind(AssertUnwindSafe(|| f(&mut chip, &self.mem)));
        swap(&mut chip, &mut guards);
        drop(guards);
        drop(chip);
        match r {
            Ok(v) => v,
            Err(_) => self.fence(fail),
        }
    }

    /// Runs `f` on the whole chip, every PHB in.
    fn with<R>(&self, fail: R, f: impl FnOnce(&mut Chip, &HostMem) -> R) -> R {
        self.with_phbs(ALL_PHBS, fail, f)
    }

    /// Clears a poisoned lock (after a panic); reset is the way back.
    fn clear_poison(&self) {
        if self.chip.is_poisoned() {
            self.chip.clear_poison();
        }
        for slot in &self.phbs {
            if slot.0.is_poisoned() {
                slot.0.clear_poison();
            }
        }
    }
}

/// Fault-reason string for an unknown code (and for a panicking lookup).
const UNKNOWN: &[u8] = b"unknown\0";

/// Runs the body of an `extern "C"` export: a panic is caught, logged as an
/// error and turned into `fail`, a safe value for the C caller (false, 0,
/// NULL, nothing written), so that no unwind ever crosses into C. Chip
/// operations additionally fence off their chip (`ChipBox::with`).
fn guard<R>(name: &str, fail: R, body: impl FnOnce() -> R) -> R {
    catch_unwind(AssertUnwindSafe(body)).unwrap_or_else(|_| {
        log::error!("calgary: internal error in {name}; it returned a safe value instead");
        fail
    })
}

fn chip_ref<'a>(chip: *mut sys::CalgaryChip) -> Option<&'a ChipBox> {
    // SAFETY: non-null pointers come from calgary_chip_new and stay valid
    // until calgary_chip_free.
    unsafe { (chip as *const ChipBox).as_ref() }
}

/// Writes `msg` NUL-terminated into a caller buffer, truncating.
fn put_str(buf: *mut c_char, len: usize, msg: &str) {
    if buf.is_null() || len == 0 {
        return;
    }
    let n = msg.len().min(len - 1);
    // SAFETY: the caller gave `len` writable bytes at `buf`.
    unsafe {
        std::ptr::copy_nonoverlapping(msg.as_ptr(), buf as *mut u8, n);
        *buf.add(n) = 0;
    }
}

fn variant_of(v: u32) -> Option<Variant> {
    match v {
        sys::CALGARY_VARIANT_CALGARY => Some(Variant::Calgary),
        sys::CALGARY_VARIANT_CALIOC2 => Some(Variant::CalIoc2),
        _ => None,
    }
}

fn chip_config(cfg: &sys::CalgaryChipConfig) -> Result<ChipConfig, String> {
    let variant = variant_of(cfg.variant).ok_or_else(|| {
        format!(
            "invalid variant {} (accepted: calgary, calioc2)",
            cfg.variant
        )
    })?;
    let cache = cache_config(cfg.cache_policy, cfg.cache_entries, cfg.cache_ways)?;
    let p = |i: usize| PhbConfig {
        first_bus: cfg.phb[i].first_bus,
        last_bus: cfg.phb[i].last_bus,
        mem1_start: cfg.phb[i].mem1_start,
        mem1_limit: cfg.phb[i].mem1_limit,
    };
    let c = ChipConfig {
        variant,
        bbar: cfg.bbar,
        chassis: cfg.chassis,
        phbs: [p(0), p(1), p(2), p(3)],
        cache,
    };
    c.validate().map_err(|e| e.to_string())?;
    Ok(c)
}

/// See `calgary-ffi.h`.
///
/// # Safety
/// Pointer arguments are valid for the access the header describes, or NULL.
#[no_mangle]
pub unsafe extern "C" fn calgary_chip_new(
    cfg: *const sys::CalgaryChipConfig,
    read_tce: sys::CalgaryReadTceFn,
    opaque: *mut c_void,
    err: *mut c_char,
    err_len: usize,
) -> *mut sys::CalgaryChip {
    guard("calgary_chip_new", std::ptr::null_mut(), || {
        // SAFETY: the caller passes a valid config or NULL.
        let Some(cfg) = (unsafe { cfg.as_ref() }) else {
            put_str(err, err_len, "no configuration");
            return std::ptr::null_mut();
        };
        let line_fill = match cfg.cache_line {
            0 | 1 => false,
            8 => true,
            other => {
                put_str(
                    err,
                    err_len,
                    &format!("invalid tce-cache-line {other} (accepted: 1, 8)"),
                );
                return std::ptr::null_mut();
            }
        };
        let blocks = match cfg.tce_block {
            0 => false,
            1 => true,
            other => {
                put_str(
                    err,
                    err_len,
                    &format!("invalid tce-block {other} (accepted: 0, 1)"),
                );
                return std::ptr::null_mut();
            }
        };
        let made = catch_unwind(|| {
            chip_config(cfg).and_then(|c| {
                let mut chip = Chip::new(c).map_err(|e| e.to_string())?;
                chip.set_line_fill(line_fill);
                chip.set_blocks(blocks);
                Ok(chip)
            })
        });
        match made {
            Ok(Ok(chip)) => match ChipBox::new(chip, HostMem { read_tce, opaque }) {
                Some(b) => Box::into_raw(Box::new(b)) as *mut sys::CalgaryChip,
                None => {
                    put_str(err, err_len, "internal error creating the chip");
                    std::ptr::null_mut()
                }
            },
            Ok(Err(msg)) => {
                put_str(err, err_len, &msg);
                std::ptr::null_mut()
            }
            Err(_) => {
                put_str(err, err_len, "internal error creating the chip");
                std::ptr::null_mut()
            }
        }
    })
}
check_abi!(calgary_chip_new: unsafe extern "C" fn(*const sys::CalgaryChipConfig, sys::CalgaryReadTceFn, *mut c_void, *mut c_char, usize) -> *mut sys::CalgaryChip);

/// See `calgary-ffi.h`.
///
/// # Safety
/// Pointer arguments are valid for the access the header describes, or NULL.
#[no_mangle]
pub unsafe extern "C" fn calgary_chip_free(chip: *mut sys::CalgaryChip) {
    guard("calgary_chip_free", (), || {
        if !chip.is_null() {
            // SAFETY: created by Box::into_raw in calgary_chip_new, freed once.
            drop(unsafe { Box::from_raw(chip as *mut ChipBox) });
        }
    })
}
check_abi!(calgary_chip_free: unsafe extern "C" fn(*mut sys::CalgaryChip));

/// See `calgary-ffi.h`.
///
/// # Safety
/// Pointer arguments are valid for the access the header describes, or NULL.
#[no_mangle]
pub unsafe extern "C" fn calgary_chip_set_name(chip: *mut sys::CalgaryChip, name: *const c_char) {
    guard("calgary_chip_set_name", (), || {
        let Some(c) = chip_ref(chip) else {
            return;
        };
        if name.is_null() {
            return;
        }
        // SAFETY: the caller passes a NUL-terminated string.
        let name = unsafe { std::ffi::CStr::from_ptr(name) }.to_string_lossy();
        // Once: translation reads the name without a lock.
        if c.name.set(name.as_ref().into()).is_ok() {
            c.with((), |chip, _| chip.set_name(&name));
        }
    })
}
check_abi!(calgary_chip_set_name: unsafe extern "C" fn(*mut sys::CalgaryChip, *const c_char));

/// See `calgary-ffi.h`.
///
/// # Safety
/// Pointer arguments are valid for the access the header describes, or NULL.
#[no_mangle]
pub unsafe extern "C" fn calgary_chip_reset(chip: *mut sys::CalgaryChip) {
    guard("calgary_chip_reset", (), || {
        if let Some(c) = chip_ref(chip) {
            // A reset is the one way out of a broken state.
            c.broken.store(false, Ordering::Relaxed);
            c.clear_poison();
            c.with((), |chip, _| chip.reset());
        }
    })
}
check_abi!(calgary_chip_reset: unsafe extern "C" fn(*mut sys::CalgaryChip));

/// Writes formatted text NUL-terminated into a C buffer, truncating.
pub(crate) struct TextBuf<'a> {
    pub(crate) buf: &'a mut [c_char],
    pub(crate) len: usize,
}

impl std::fmt::Write for TextBuf<'_> {
    fn write_str(&mut self, s: &str) -> std::fmt::Result {
        for &b in s.as_bytes() {
            if self.len + 1 >= self.buf.len() {
                break;
            }
            if let Some(slot) = self.buf.get_mut(self.len) {
                *slot = b as c_char;
            }
            self.len += 1;
        }
        if let Some(slot) = self.buf.get_mut(self.len) {
            *slot = 0;
        }
        Ok(())
    }
}

fn fill_event(ev: *mut sys::CalgaryEvent, e: Option<MmioEvent>) {
    // SAFETY: the caller passes a valid event or NULL.
    let Some(out) = (unsafe { ev.as_mut() }) else {
        return;
    };
    let Some(e) = e else {
        out.kind = sys::CALGARY_EVENT_NONE;
        out.phb = -1;
        if let Some(t) = out.text.first_mut() {
            *t = 0;
        }
        return;
    };
    let (kind, phb) = match e {
        MmioEvent::GuestError { .. } => (sys::CALGARY_EVENT_GUEST_ERROR, -1),
        MmioEvent::CacheFlushed { phb } => (sys::CALGARY_EVENT_FLUSH, i32::from(phb)),
        MmioEvent::ErrorCleared { phb }
        | MmioEvent::TranslationEnabled { phb, .. }
        | MmioEvent::SlotDisabled { phb, .. } => (sys::CALGARY_EVENT_INFO, i32::from(phb)),
        _ => (sys::CALGARY_EVENT_INFO, -1),
    };
    out.kind = kind;
    out.phb = phb;
    let mut w = TextBuf {
        buf: &mut out.text[..],
        len: 0,
    };
    let _ = write!(w, "{e}");
}

/// See `calgary-ffi.h`.
///
/// # Safety
/// Pointer arguments are valid for the access the header describes, or NULL.
#[no_mangle]
pub unsafe extern "C" fn calgary_mmio_read(
    chip: *mut sys::CalgaryChip,
    offset: u64,
    size: u32,
    ev: *mut sys::CalgaryEvent,
) -> u64 {
    guard("calgary_mmio_read", 0, || {
        let Some(c) = chip_ref(chip) else {
            return 0;
        };
        if c.broken.load(Ordering::Relaxed) {
            fill_event(ev, None);
            return 0;
        }
        let (v, e) = match c.view().mmio_locate(offset, size, false) {
            Ok(t) => c.with_phb(t.phb(), (0, None), |p, view, _| p.mmio_read(view, &t)),
            Err(e) => (0, Some(e)),
        };
        fill_event(ev, e);
        v
    })
}
check_abi!(calgary_mmio_read: unsafe extern "C" fn(*mut sys::CalgaryChip, u64, u32, *mut sys::CalgaryEvent) -> u64);

/// See `calgary-ffi.h`.
///
/// # Safety
/// Pointer arguments are valid for the access the header describes, or NULL.
#[no_mangle]
pub unsafe extern "C" fn calgary_mmio_write(
    chip: *mut sys::CalgaryChip,
    offset: u64,
    size: u32,
    value: u64,
    ev: *mut sys::CalgaryEvent,
) {
    guard("calgary_mmio_write", (), || {
        let Some(c) = chip_ref(chip) else {
            return;
        };
        if c.broken.load(Ordering::Relaxed) {
            fill_event(ev, None);
            return;
        }
        let e = match c.view().mmio_locate(offset, size, true) {
            Ok(t) => c.with_phb(t.phb(), None, |p, view, _| p.mmio_write(view, &t, value)),
            Err(e) => Some(e),
        };
        fill_event(ev, e);
    })
}
check_abi!(calgary_mmio_write: unsafe extern "C" fn(*mut sys::CalgaryChip, u64, u32, u64, *mut sys::CalgaryEvent));

/// Reason code for a chip that panicked and is now fenced off.
const REASON_BROKEN: u8 = sys::CALGARY_FAULT_BROKEN as u8;

// One definition, checked on the other side: the fault reasons are the
// core's `FaultReason` codes; the header repeats them for C (which cannot
// include Rust), and these asserts on bindgen's view of the header fail the
// build when the two disagree. The same holds for the constants asserted
// in platform.rs. On the C side, the shim checks what it relies on with
// QEMU_BUILD_BUG_ON against the same header.
const _: () = {
    use FaultReason as F;
    assert!(sys::CALGARY_FAULT_SLOT_DISABLED == F::SlotDisabled.code() as u32);
    assert!(sys::CALGARY_FAULT_OUT_OF_RANGE == F::OutOfRange.code() as u32);
    assert!(sys::CALGARY_FAULT_TCE_READ_FAILED == F::TceReadFailed.code() as u32);
    assert!(sys::CALGARY_FAULT_NOT_VALID == F::NotValid.code() as u32);
    assert!(sys::CALGARY_FAULT_READ_ONLY == F::ReadOnly.code() as u32);
    assert!(sys::CALGARY_FAULT_WRITE_ONLY == F::WriteOnly.code() as u32);
    // BROKEN is not a hardware reason: it must not collide with one.
    assert!(sys::CALGARY_FAULT_BROKEN > F::WriteOnly.code() as u32);
    assert!(sys::CALGARY_PHBS_PER_CHIP as usize == calgary_core::PHBS_PER_CHIP);
    assert!(sys::CALGARY_WINDOW_SIZE as u64 == calgary_core::CHIP_WINDOW_SIZE);
};

/// See `calgary-ffi.h`.
///
/// # Safety
/// Pointer arguments are valid for the access the header describes, or NULL.
#[no_mangle]
pub unsafe extern "C" fn calgary_translate(
    chip: *mut sys::CalgaryChip,
    phb: u32,
    io_addr: u64,
    access: u32,
    bus: u8,
    devfn: u8,
    out: *mut sys::CalgaryXlate,
) -> bool {
    guard("calgary_translate", false, || {
        // SAFETY: the caller passes a valid result slot or NULL.
        let Some(out) = (unsafe { out.as_mut() }) else {
            return false;
        };
        *out = sys::CalgaryXlate {
            phys: 0,
            addr_mask: 0xfff,
            read: 0,
            write: 0,
            kind: 0,
            fault_reason: REASON_BROKEN,
            newly_latched: 0,
            pad: [0; 3],
        };
        let Some(c) = chip_ref(chip) else {
            return false;
        };
        let req = Requester { bus, devfn };
        let phb = phb as usize;
        if phb >= PHBS_PER_CHIP {
            out.fault_reason = FaultReason::OutOfRange.code();
            return false;
        }
        let probe = access & sys::CALGARY_ACCESS_PROBE != 0;
        let want_write = access & sys::CALGARY_ACCESS_WRITE != 0;
        let want_read = access & sys::CALGARY_ACCESS_READ != 0;
        let r = c.with_phb(phb, None, |p, chip, mem| {
            if probe {
                // Report what a device could do, latching nothing.
                let t = p.translate(chip, phb, io_addr, Direction::Read, Access::Probe, req, mem);
                Some(match t {
                    Ok(t) => Ok(t),
                    Err(_) => p.translate(
                        chip,
                        phb,
                        io_addr,
                        Direction::Write,
                        Access::Probe,
                        req,
                        mem,
                    ),
                })
            } else {
                let dir = if want_write {
                    Direction::Write
                } else {
                    Direction::Read
                };
                Some(p.translate(chip, phb, io_addr, dir, Access::Device, req, mem))
            }
        });
        match r {
            Some(Ok(t)) => {
                if want_read && want_write && !t.read && !probe {
                    out.fault_reason = FaultReason::WriteOnly.code();
                    return false;
                }
                out.phys = t.phys;
                out.addr_mask = t.addr_mask;
                out.read = u8::from(t.read);
                out.write = u8::from(t.write);
                out.kind = match t.kind {
                    XlateKind::Translated => sys::CALGARY_XLATE_TRANSLATED,
                    XlateKind::Bypass => sys::CALGARY_XLATE_BYPASS,
                    XlateKind::Window => sys::CALGARY_XLATE_WINDOW,
                } as u8;
                true
            }
            Some(Err(f)) => {
                out.fault_reason = f.reason.code();
                out.newly_latched = u8::from(f.newly_latched);
                false
            }
            None => false,
        }
    })
}
check_abi!(calgary_translate: unsafe extern "C" fn(*mut sys::CalgaryChip, u32, u64, u32, u8, u8, *mut sys::CalgaryXlate) -> bool);

/// See `calgary-ffi.h`.
///
/// # Safety
/// Pointer arguments are valid for the access the header describes, or NULL.
#[no_mangle]
pub unsafe extern "C" fn calgary_fault_reason_str(reason: u32) -> *const c_char {
    guard(
        "calgary_fault_reason_str",
        UNKNOWN.as_ptr() as *const c_char,
        || {
            let s: &'static [u8] = match FaultReason::ALL
                .iter()
                .find(|r| u32::from(r.code()) == reason)
            {
                Some(FaultReason::SlotDisabled) => b"slot disabled (SLOT_DISABLE set)\0",
                Some(FaultReason::OutOfRange) => b"IO address beyond the TCE table\0",
                Some(FaultReason::TceReadFailed) => b"TCE fetch failed (table not in RAM)\0",
                Some(FaultReason::NotValid) => b"TCE not valid (unmapped page)\0",
                Some(FaultReason::ReadOnly) => b"write to a read-only TCE\0",
                Some(FaultReason::WriteOnly) => b"read from a write-only TCE\0",
                None if reason == u32::from(REASON_BROKEN) => {
                    b"chip model failed; DMA fenced off\0"
                }
                None => UNKNOWN,
            };
            s.as_ptr() as *const c_char
        },
    )
}
check_abi!(calgary_fault_reason_str: unsafe extern "C" fn(u32) -> *const c_char);

/// See `calgary-ffi.h`.
///
/// # Safety
/// `enabled` and `log` are NULL (no logging) or functions that may be
/// called from any thread for the rest of the process.
#[no_mangle]
pub unsafe extern "C" fn calgary_log_init(
    enabled: sys::CalgaryLogEnabledFn,
    log: sys::CalgaryLogFn,
) {
    guard("calgary_log_init", (), || {
        let _ = catch_unwind(|| logger::init(enabled, log));
    })
}
check_abi!(calgary_log_init: unsafe extern "C" fn(sys::CalgaryLogEnabledFn, sys::CalgaryLogFn));
