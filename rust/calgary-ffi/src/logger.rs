//! Forwards the core's `log` records (`calgary_core::diag`) to QEMU's log
//! through the two C functions given to `calgary_log_init`.
//!
//! The record's target picks the class (guest error, unimplemented, trace);
//! the shim's `enabled` function says whether QEMU shows that class right
//! now (`-d guest_errors`, `-d unimp`, the trace event), and only then is the
//! record formatted, into a stack buffer: no allocation.

use std::ffi::c_char;
use std::fmt::Write as _;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::RwLock;

use calgary_core::diag;
use log::{Level, LevelFilter, Log, Metadata, Record};

use crate::{sys, TextBuf};

/// Longest line handed to QEMU (longer records are truncated).
const LINE: usize = 256;

#[derive(Clone, Copy)]
struct Sinks {
    enabled: unsafe extern "C" fn(u32) -> bool,
    log: unsafe extern "C" fn(u32, *const c_char),
}

static SINKS: RwLock<Option<Sinks>> = RwLock::new(None);

struct QemuLogger;

static LOGGER: QemuLogger = QemuLogger;
/// Whether `LOGGER` is the process's logger (then the level is ours to set).
static INSTALLED: AtomicBool = AtomicBool::new(false);

/// The class of the header's `CalgaryLogClass` a record belongs to.
pub(crate) fn class_of(target: &str, level: Level) -> u32 {
    match target {
        diag::GUEST_ERROR => sys::CALGARY_LOG_GUEST_ERROR,
        diag::UNIMP => sys::CALGARY_LOG_UNIMP,
        _ if level == Level::Error => sys::CALGARY_LOG_ERROR,
        _ => sys::CALGARY_LOG_TRACE,
    }
}

fn sinks() -> Option<Sinks> {
    SINKS.read().ok().and_then(|g| *g)
}

impl Log for QemuLogger {
    fn enabled(&self, m: &Metadata<'_>) -> bool {
        match sinks() {
            // SAFETY: the shim's function, given to calgary_log_init.
            Some(s) => unsafe { (s.enabled)(class_of(m.target(), m.level())) },
            None => false,
        }
    }

    fn log(&self, r: &Record<'_>) {
        let Some(s) = sinks() else {
            return;
        };
        let cls = class_of(r.target(), r.level());
        // SAFETY: the shim's function, given to calgary_log_init.
        if !unsafe { (s.enabled)(cls) } {
            return;
        }
        let mut line = [0 as c_char; LINE];
        let mut w = TextBuf {
            buf: &mut line[..],
            len: 0,
        };
        let _ = write!(w, "{}", r.args());
        // SAFETY: `line` is NUL-terminated (TextBuf always leaves a NUL).
        unsafe { (s.log)(cls, line.as_ptr()) };
    }

    fn flush(&self) {}
}

/// Installs the logger (once per process) and the shim's functions.
pub(crate) fn init(enabled: sys::CalgaryLogEnabledFn, log_fn: sys::CalgaryLogFn) {
    let new = match (enabled, log_fn) {
        (Some(enabled), Some(log)) => Some(Sinks { enabled, log }),
        _ => None,
    };
    if let Ok(mut g) = SINKS.write() {
        *g = new;
    }
    // Fails only when a logger is already installed: ours, or the host
    // program's own (then the records go there, and its level stays).
    if log::set_logger(&LOGGER).is_ok() {
        INSTALLED.store(true, Ordering::Relaxed);
    }
    if INSTALLED.load(Ordering::Relaxed) {
        log::set_max_level(if new.is_some() {
            LevelFilter::Debug
        } else {
            LevelFilter::Off
        });
    }
}
