//! calgary-plugin: a QEMU TCG plugin (plugin API v4, QEMU 10.0) that counts
//! guest instructions executed — in total, in the kernel half and below it, and
//! inside given guest-kernel address ranges — and writes JSON at exit.
//!
//! Counting uses inline per-vCPU scoreboard adds registered at translation
//! time (no per-instruction callbacks): one `ADD n` per translation block for
//! the total and one per (block, range) pair for the instructions of that block
//! inside the range, plus one `ADD 1` on the first instruction of a range
//! (function entries = "calls"). A block left early by an exception still
//! counts whole; for the kernel functions this is meant for, the error is
//! negligible.
//!
//! Arguments (`-plugin libcalgary_plugin.so,arg=value,...`):
//! - `out=FILE`        write the JSON here (default: QEMU's log via qemu_plugin_outs)
//! - `ranges=FILE`     lines `name start end` (hex with or without 0x; `#` comments)
//! - `map=System.map`  with `syms=a,b,c` (`;` also separates; a trailing `*`
//!   matches a prefix): each symbol's range runs to the next higher symbol
//! - `range=name:start:end` one range inline (repeatable)
//!
//! Boot the guest with `nokaslr` so System.map addresses hold.
//!
//! Marks: a guest program brackets the interval it wants counted with two
//! otherwise useless instructions, `xchg %bx,%bx` (`66 87 db`, BEGIN) and
//! `xchg %cx,%cx` (`66 87 c9`, END) (`calgary-bench` does, around each
//! measured interval). Each one executed outside the kernel half takes a
//! snapshot of every counter (summed over vCPUs), kept in order in
//! `marks`; the difference END − BEGIN is that interval's count, the same on
//! every run of the same guest work (no timing in it).
//!
//! JSON (`kernel` = blocks at vaddr >= 0xffff800000000000, `nonkernel` = the
//! rest: user space, firmware, real-mode boot code):
//!   `{"total":N,"kernel":N,"nonkernel":N,"vcpus":N,
//!         "ranges":[{"name":..,"start":"0x..","end":"0x..","insns":N,"calls":N},..],
//!         "marks":[{"kind":"begin"|"end","vcpu":N,"total":N,"kernel":N,
//!                   "nonkernel":N,"insns":[N per range],"calls":[N per range]},..]}`

#![cfg_attr(test, allow(unused_imports, dead_code))]
use std::ffi::{c_char, c_int, c_void, CStr, CString};
use std::fmt::Write as _;
use std::sync::{Mutex, OnceLock};

pub mod ranges;
use ranges::Range;

#[allow(non_camel_case_types, dead_code)]
mod sys {
    pub use qemu_plugin_sys::*;
}

/// Exported for QEMU: the API version this plugin was built against.
#[cfg(not(test))]
#[no_mangle]
pub static qemu_plugin_version: c_int = sys::QEMU_PLUGIN_VERSION as c_int;

/// Scoreboard slots per vCPU.
const TOTAL: usize = 0;
const KERNEL: usize = 1;
const NONKERNEL: usize = 2;
const FIXED: usize = 3;
fn slot_insns(r: usize) -> usize {
    FIXED + 2 * r
}
fn slot_calls(r: usize) -> usize {
    FIXED + 2 * r + 1
}

/// The two mark instructions (see the module comment).
pub const MARK_BEGIN: [u8; 3] = [0x66, 0x87, 0xdb];
pub const MARK_END: [u8; 3] = [0x66, 0x87, 0xc9];

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MarkKind {
    Begin,
    End,
}

impl MarkKind {
    fn name(self) -> &'static str {
        match self {
            MarkKind::Begin => "begin",
            MarkKind::End => "end",
        }
    }
}

/// Which mark an instruction's bytes are, if any.
pub fn mark_kind(bytes: &[u8]) -> Option<MarkKind> {
    if bytes == MARK_BEGIN {
        Some(MarkKind::Begin)
    } else if bytes == MARK_END {
        Some(MarkKind::End)
    } else {
        None
    }
}

/// One snapshot: every slot's sum over vCPUs when a mark executed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Mark {
    pub kind: MarkKind,
    pub vcpu: u32,
    pub slots: Vec<u64>,
}

struct State {
    score: *mut sys::qemu_plugin_scoreboard,
    ranges: Vec<Range>,
    out: Option<String>,
    marks: Mutex<Vec<Mark>>,
}
// The scoreboard handle is only used through QEMU's thread-safe API.
unsafe impl Sync for State {}
unsafe impl Send for State {}

static STATE: OnceLock<State> = OnceLock::new();

#[cfg(not(test))]
fn entry(st: &State, slot: usize) -> sys::qemu_plugin_u64 {
    sys::qemu_plugin_u64 {
        score: st.score,
        offset: slot * 8,
    }
}

const KERNEL_BASE: u64 = 0xffff_8000_0000_0000;

#[cfg(not(test))]
unsafe extern "C" fn tb_trans(_id: sys::qemu_plugin_id_t, tb: *mut sys::qemu_plugin_tb) {
    let Some(st) = STATE.get() else { return };
    let n = sys::qemu_plugin_tb_n_insns(tb);
    if n == 0 {
        return;
    }
    let add = sys::qemu_plugin_op::QEMU_PLUGIN_INLINE_ADD_U64;
    sys::qemu_plugin_register_vcpu_tb_exec_inline_per_vcpu(tb, add, entry(st, TOTAL), n as u64);
    let vaddr = sys::qemu_plugin_tb_vaddr(tb);
    let space = if vaddr >= KERNEL_BASE {
        KERNEL
    } else {
        NONKERNEL
    };
    sys::qemu_plugin_register_vcpu_tb_exec_inline_per_vcpu(tb, add, entry(st, space), n as u64);
    if vaddr < KERNEL_BASE {
        for i in 0..n {
            let insn = sys::qemu_plugin_tb_get_insn(tb, i);
            if sys::qemu_plugin_insn_size(insn) != MARK_BEGIN.len() {
                continue;
            }
            let mut b = [0u8; 3];
            let got = sys::qemu_plugin_insn_data(insn, b.as_mut_ptr().cast(), b.len());
            let udata = match mark_kind(&b[..got]) {
                Some(MarkKind::Begin) => 1usize,
                Some(MarkKind::End) => 2usize,
                None => continue,
            };
            sys::qemu_plugin_register_vcpu_insn_exec_cb(
                insn,
                Some(on_mark),
                sys::qemu_plugin_cb_flags::QEMU_PLUGIN_CB_NO_REGS,
                udata as *mut c_void,
            );
        }
    }
    if st.ranges.is_empty()
        || vaddr < KERNEL_BASE && st.ranges.iter().all(|r| r.start >= KERNEL_BASE)
    {
        return;
    }
    // Per range: how many of this block's instructions fall inside it.
    let mut counts: Vec<(usize, u64)> = Vec::new();
    for i in 0..n {
        let insn = sys::qemu_plugin_tb_get_insn(tb, i);
        let a = sys::qemu_plugin_insn_vaddr(insn);
        for (ri, r) in st.ranges.iter().enumerate() {
            if a >= r.start && a < r.end {
                match counts.iter_mut().find(|(k, _)| *k == ri) {
                    Some((_, c)) => *c += 1,
                    None => counts.push((ri, 1)),
                }
                if a == r.start {
                    sys::qemu_plugin_register_vcpu_insn_exec_inline_per_vcpu(
                        insn,
                        add,
                        entry(st, slot_calls(ri)),
                        1,
                    );
                }
            }
        }
    }
    for (ri, c) in counts {
        sys::qemu_plugin_register_vcpu_tb_exec_inline_per_vcpu(
            tb,
            add,
            entry(st, slot_insns(ri)),
            c,
        );
    }
}

/// A mark executed: snapshot every slot (the block's inline adds, which run
/// at its start, are already in).
#[cfg(not(test))]
unsafe extern "C" fn on_mark(vcpu: std::ffi::c_uint, udata: *mut c_void) {
    let Some(st) = STATE.get() else { return };
    let kind = if udata as usize == 1 {
        MarkKind::Begin
    } else {
        MarkKind::End
    };
    let slots = (0..FIXED + 2 * st.ranges.len())
        .map(|s| sys::qemu_plugin_u64_sum(entry(st, s)))
        .collect();
    if let Ok(mut m) = st.marks.lock() {
        m.push(Mark { kind, vcpu, slots });
    }
}

fn json_str(s: &str) -> String {
    let mut o = String::from("\"");
    for ch in s.chars() {
        match ch {
            '"' => o.push_str("\\\""),
            '\\' => o.push_str("\\\\"),
            c if (c as u32) < 0x20 => {
                let _ = write!(o, "\\u{:04x}", c as u32);
            }
            c => o.push(c),
        }
    }
    o.push('"');
    o
}

/// Render the report; `get(slot)` returns the sum over vCPUs.
pub fn render_json(
    ranges: &[Range],
    vcpus: i64,
    marks: &[Mark],
    get: impl Fn(usize) -> u64,
) -> String {
    let mut o = String::new();
    let _ = write!(
        o,
        "{{\"total\":{},\"kernel\":{},\"nonkernel\":{},\"vcpus\":{},\"ranges\":[",
        get(TOTAL),
        get(KERNEL),
        get(NONKERNEL),
        vcpus
    );
    for (i, r) in ranges.iter().enumerate() {
        if i > 0 {
            o.push(',');
        }
        let _ = write!(
            o,
            "\n  {{\"name\":{},\"start\":\"{:#x}\",\"end\":\"{:#x}\",\"insns\":{},\"calls\":{}}}",
            json_str(&r.name),
            r.start,
            r.end,
            get(slot_insns(i)),
            get(slot_calls(i))
        );
    }
    o.push_str("\n],\"marks\":[");
    let slot = |m: &Mark, i: usize| m.slots.get(i).copied().unwrap_or(0);
    for (i, m) in marks.iter().enumerate() {
        if i > 0 {
            o.push(',');
        }
        let _ = write!(
            o,
            "\n  {{\"kind\":\"{}\",\"vcpu\":{},\"total\":{},\"kernel\":{},\"nonkernel\":{},",
            m.kind.name(),
            m.vcpu,
            slot(m, TOTAL),
            slot(m, KERNEL),
            slot(m, NONKERNEL)
        );
        let list = |f: fn(usize) -> usize| {
            (0..ranges.len())
                .map(|r| slot(m, f(r)).to_string())
                .collect::<Vec<_>>()
                .join(",")
        };
        let _ = write!(
            o,
            "\"insns\":[{}],\"calls\":[{}]}}",
            list(slot_insns),
            list(slot_calls)
        );
    }
    o.push_str("\n]}\n");
    o
}

#[cfg(not(test))]
unsafe extern "C" fn at_exit(_id: sys::qemu_plugin_id_t, _u: *mut c_void) {
    let Some(st) = STATE.get() else { return };
    let vcpus = sys::qemu_plugin_num_vcpus() as i64;
    let marks = st.marks.lock().map(|m| m.clone()).unwrap_or_default();
    let json = render_json(&st.ranges, vcpus, &marks, |slot| {
        sys::qemu_plugin_u64_sum(entry(st, slot))
    });
    match &st.out {
        Some(path) => {
            if let Err(e) = std::fs::write(path, &json) {
                let msg = CString::new(format!("calgary-plugin: cannot write {path}: {e}\n"))
                    .unwrap_or_default();
                sys::qemu_plugin_outs(msg.as_ptr());
            }
        }
        None => {
            let msg = CString::new(json).unwrap_or_default();
            sys::qemu_plugin_outs(msg.as_ptr());
        }
    }
}

#[cfg(not(test))]
fn outs(s: &str) {
    if let Ok(c) = CString::new(s) {
        unsafe { sys::qemu_plugin_outs(c.as_ptr()) };
    }
}

/// Entry point called by QEMU when the plugin is loaded.
///
/// # Safety
/// Called by QEMU with valid `info` and `argv[0..argc]`.
#[cfg(not(test))]
#[no_mangle]
pub unsafe extern "C" fn qemu_plugin_install(
    id: sys::qemu_plugin_id_t,
    _info: *const sys::qemu_info_t,
    argc: c_int,
    argv: *mut *mut c_char,
) -> c_int {
    let mut args = Vec::new();
    for i in 0..argc.max(0) as usize {
        let p = *argv.add(i);
        if !p.is_null() {
            args.push(CStr::from_ptr(p).to_string_lossy().into_owned());
        }
    }
    let cfg = match ranges::parse_args(&args) {
        Ok(c) => c,
        Err(e) => {
            outs(&format!("calgary-plugin: {e}\n"));
            return -1;
        }
    };
    let slots = FIXED + 2 * cfg.ranges.len();
    let score = sys::qemu_plugin_scoreboard_new(slots * 8);
    if score.is_null() {
        outs("calgary-plugin: cannot allocate scoreboard\n");
        return -1;
    }
    if !cfg.missing.is_empty() {
        outs(&format!(
            "calgary-plugin: not in the System.map (ignored): {}\n",
            cfg.missing.join(", ")
        ));
    }
    let _ = STATE.set(State {
        score,
        ranges: cfg.ranges,
        out: cfg.out,
        marks: Mutex::new(Vec::new()),
    });
    sys::qemu_plugin_register_vcpu_tb_trans_cb(id, Some(tb_trans));
    sys::qemu_plugin_register_atexit_cb(id, Some(at_exit), std::ptr::null_mut());
    0
}
