//! C ABI of fault injection (`calgary_core::inject`): the QOM properties
//! `inject-*` of each PHB and the machine's `inject=` start-up list.

use std::ffi::{c_char, CStr};
use std::fmt::Write as _;

use calgary_core::inject::{
    parse_latch, parse_u32, ErrorRegs, InjectError, Injection, INJECT_STAT_COUNT,
};
use calgary_core::{Chip, PHBS_PER_CHIP};

use crate::{chip_ref, guard, put_str, sys};

/// Kind names as the machine's `inject=` list and the docs spell them.
const KIND_NAMES: [(&str, u32); 5] = [
    ("split-busy", sys::CALGARY_INJECT_SPLIT_BUSY),
    ("softstop-fault", sys::CALGARY_INJECT_SOFTSTOP_FAULT),
    ("tce-fetch-fail", sys::CALGARY_INJECT_TCE_FETCH_FAIL),
    ("error", sys::CALGARY_INJECT_ERROR),
    ("error-regs", sys::CALGARY_INJECT_ERROR_REGS),
];

const _: () = assert!(INJECT_STAT_COUNT == 6);
const _: () = assert!(KIND_NAMES.len() == sys::CALGARY_INJECT_KINDS as usize);

fn counted(kind: u32, n: u32) -> Option<Injection> {
    match kind {
        sys::CALGARY_INJECT_SPLIT_BUSY => Some(Injection::SplitBusy(n)),
        sys::CALGARY_INJECT_SOFTSTOP_FAULT => Some(Injection::SoftStopFault(n)),
        sys::CALGARY_INJECT_TCE_FETCH_FAIL => Some(Injection::TceFetchFail(n)),
        _ => None,
    }
}

/// An injection from its text form.
fn parse(kind: u32, text: &str) -> Result<Injection, String> {
    let bad = |e: InjectError| e.to_string();
    match kind {
        sys::CALGARY_INJECT_ERROR => {
            let (csr, plssr) = parse_latch(text)
                .map_err(|e| format!("{e}; expected CSR[:PLSSR], e.g. 0x80000000:0x12340000"))?;
            Ok(Injection::LatchError { csr, plssr })
        }
        sys::CALGARY_INJECT_ERROR_REGS => ErrorRegs::parse(text)
            .map(Injection::ErrorRegs)
            .map_err(bad),
        k => {
            let n = parse_u32(text).map_err(bad)?;
            counted(k, n).ok_or_else(|| format!("unknown injection kind {k}"))
        }
    }
}

fn apply(chip: *mut sys::CalgaryChip, phb: u32, inj: Injection) -> Result<(), String> {
    let c = chip_ref(chip).ok_or("no chip")?;
    let phb = phb as usize;
    c.with(Err("chip model failed".to_string()), |chip, _| {
        chip.inject(phb, inj).map_err(|e| e.to_string())
    })
}

fn report(r: Result<(), String>, err: *mut c_char, err_len: usize) -> bool {
    match r {
        Ok(()) => true,
        Err(m) => {
            put_str(err, err_len, &m);
            false
        }
    }
}

/// See `calgary-ffi.h`.
///
/// # Safety
/// Pointer arguments are valid for the access the header describes, or NULL.
#[no_mangle]
pub unsafe extern "C" fn calgary_inject_count(
    chip: *mut sys::CalgaryChip,
    phb: u32,
    kind: u32,
    n: u32,
    err: *mut c_char,
    err_len: usize,
) -> bool {
    guard("calgary_inject_count", false, || {
        let r = counted(kind, n)
            .ok_or_else(|| format!("injection kind {kind} takes no count"))
            .and_then(|inj| apply(chip, phb, inj));
        report(r, err, err_len)
    })
}
check_abi!(calgary_inject_count: unsafe extern "C" fn(*mut sys::CalgaryChip, u32, u32, u32, *mut c_char, usize) -> bool);

/// # Safety
/// `p` is NULL or a NUL-terminated string.
unsafe fn c_text<'a>(p: *const c_char) -> Result<&'a str, String> {
    if p.is_null() {
        return Err("no value".into());
    }
    // SAFETY: the caller passes a NUL-terminated string.
    unsafe { CStr::from_ptr(p) }
        .to_str()
        .map_err(|_| "value is not UTF-8".to_string())
}

/// See `calgary-ffi.h`.
///
/// # Safety
/// Pointer arguments are valid for the access the header describes, or NULL.
#[no_mangle]
pub unsafe extern "C" fn calgary_inject_text(
    chip: *mut sys::CalgaryChip,
    phb: u32,
    kind: u32,
    text: *const c_char,
    err: *mut c_char,
    err_len: usize,
) -> bool {
    guard("calgary_inject_text", false, || {
        // SAFETY: as documented for the caller.
        let r = unsafe { c_text(text) }
            .and_then(|t| parse(kind, t))
            .and_then(|inj| apply(chip, phb, inj));
        report(r, err, err_len)
    })
}
check_abi!(calgary_inject_text: unsafe extern "C" fn(*mut sys::CalgaryChip, u32, u32, *const c_char, *mut c_char, usize) -> bool);

fn text_of(chip: &Chip, phb: usize, kind: u32) -> Option<String> {
    let st = chip.injections(phb)?;
    let mut s = String::new();
    match kind {
        sys::CALGARY_INJECT_SPLIT_BUSY => {
            let _ = write!(s, "{}", st.split_busy);
        }
        sys::CALGARY_INJECT_SOFTSTOP_FAULT => {
            let _ = write!(s, "{}", st.softstop_faults);
        }
        sys::CALGARY_INJECT_TCE_FETCH_FAIL => {
            let _ = write!(s, "{}", st.tce_fetch_fail);
        }
        sys::CALGARY_INJECT_ERROR => {
            if st.error_latched {
                let _ = write!(
                    s,
                    "{:#010x}:{:#010x}",
                    chip.phb_csr(phb),
                    chip.phb_plssr(phb)
                );
            }
        }
        sys::CALGARY_INJECT_ERROR_REGS => {
            let _ = write!(s, "{}", chip.error_regs(phb)?);
        }
        _ => return None,
    }
    Some(s)
}

/// See `calgary-ffi.h`.
///
/// # Safety
/// Pointer arguments are valid for the access the header describes, or NULL.
#[no_mangle]
pub unsafe extern "C" fn calgary_inject_get_text(
    chip: *mut sys::CalgaryChip,
    phb: u32,
    kind: u32,
    buf: *mut c_char,
    len: usize,
) -> usize {
    guard("calgary_inject_get_text", 0, || {
        let Some(c) = chip_ref(chip) else {
            return 0;
        };
        let Some(text) = c.with(None, |chip, _| text_of(chip, phb as usize, kind)) else {
            put_str(buf, len, "");
            return 0;
        };
        put_str(buf, len, &text);
        text.len()
    })
}
check_abi!(calgary_inject_get_text: unsafe extern "C" fn(*mut sys::CalgaryChip, u32, u32, *mut c_char, usize) -> usize);

/// See `calgary-ffi.h`.
///
/// # Safety
/// Pointer arguments are valid for the access the header describes, or NULL.
#[no_mangle]
pub unsafe extern "C" fn calgary_inject_info(
    chip: *mut sys::CalgaryChip,
    phb: u32,
    out: *mut sys::CalgaryInjectInfo,
) -> bool {
    guard("calgary_inject_info", false, || {
        // SAFETY: the caller passes a valid result slot or NULL.
        let (Some(c), Some(out)) = (chip_ref(chip), unsafe { out.as_mut() }) else {
            return false;
        };
        let phb = phb as usize;
        let Some((st, s)) = c.with(None, |chip, _| {
            Some((chip.injections(phb)?, chip.inject_stats(phb)?))
        }) else {
            return false;
        };
        *out = sys::CalgaryInjectInfo {
            split_busy: st.split_busy,
            softstop_faults: st.softstop_faults,
            tce_fetch_fail: st.tce_fetch_fail,
            error_latched: u32::from(st.error_latched),
            armed: s.armed,
            split_busy_reads: s.split_busy_reads,
            softstop_faults_fired: s.softstop_faults,
            tce_fetch_failures: s.tce_fetch_failures,
            errors_latched: s.errors_latched,
            error_regs_set: s.error_regs_set,
        };
        true
    })
}
check_abi!(calgary_inject_info: unsafe extern "C" fn(*mut sys::CalgaryChip, u32, *mut sys::CalgaryInjectInfo) -> bool);

/// One item of the machine's `inject=` list: `calgaryC.P/KIND=VALUE`.
fn parse_item(item: &str) -> Result<(usize, usize, u32, &str), String> {
    let usage = "expected calgaryC.P/KIND=VALUE (KIND: split-busy, softstop-fault, \
                 tce-fetch-fail, error, error-regs)";
    let (target, rest) = item
        .split_once('/')
        .ok_or_else(|| format!("'{item}': {usage}"))?;
    let (kind, value) = rest
        .split_once('=')
        .ok_or_else(|| format!("'{item}': {usage}"))?;
    let (chip, phb) = target
        .trim()
        .strip_prefix("calgary")
        .and_then(|t| t.split_once('.'))
        .and_then(|(c, p)| Some((c.parse::<usize>().ok()?, p.parse::<usize>().ok()?)))
        .ok_or_else(|| format!("'{item}': bad PHB '{target}', {usage}"))?;
    if phb >= PHBS_PER_CHIP {
        return Err(format!("'{item}': no PHB {phb} (0..3)"));
    }
    let kind = KIND_NAMES
        .iter()
        .find(|(n, _)| *n == kind.trim())
        .map(|(_, k)| *k)
        .ok_or_else(|| format!("'{item}': unknown kind '{kind}', {usage}"))?;
    Ok((chip, phb, kind, value))
}

/// See `calgary-ffi.h`.
///
/// # Safety
/// `chips` holds `n_chips` valid chip pointers (or NULL entries); the
/// other pointers are valid for the access the header describes, or NULL.
#[no_mangle]
pub unsafe extern "C" fn calgary_inject_spec_apply(
    chips: *const *mut sys::CalgaryChip,
    n_chips: u32,
    spec: *const c_char,
    err: *mut c_char,
    err_len: usize,
) -> bool {
    guard("calgary_inject_spec_apply", false, || {
        // SAFETY: as documented for the caller.
        let spec = match unsafe { c_text(spec) } {
            Ok(s) => s,
            Err(_) => return true, // no list: nothing to do
        };
        let chips: &[*mut sys::CalgaryChip] = if chips.is_null() || n_chips == 0 {
            &[]
        } else {
            // SAFETY: the caller gives `n_chips` pointers.
            unsafe { std::slice::from_raw_parts(chips, n_chips as usize) }
        };
        for item in spec.split(';').map(str::trim).filter(|i| !i.is_empty()) {
            let r = parse_item(item).and_then(|(chip, phb, kind, value)| {
                let c = *chips
                    .get(chip)
                    .ok_or_else(|| format!("'{item}': no chip {chip} (chips={})", chips.len()))?;
                let inj = parse(kind, value).map_err(|e| format!("'{item}': {e}"))?;
                if c.is_null() {
                    return Ok(()); // another chip's item (a reset applies one chip's)
                }
                apply(c, phb as u32, inj).map_err(|e| format!("'{item}': {e}"))
            });
            if !report(r, err, err_len) {
                return false;
            }
        }
        true
    })
}
check_abi!(calgary_inject_spec_apply: unsafe extern "C" fn(*const *mut sys::CalgaryChip, u32, *const c_char, *mut c_char, usize) -> bool);

/// Appended to a PHB's `info calgary` line when injection did anything.
pub(crate) fn summary_suffix(chip: &Chip, phb: usize, out: &mut String) {
    let (Some(st), Some(s)) = (chip.injections(phb), chip.inject_stats(phb)) else {
        return;
    };
    if s.armed == 0 {
        return;
    }
    let _ = write!(
        out,
        " inject=[armed split-busy={} softstop-fault={} tce-fetch-fail={}{}; fired split-busy={} \
         softstop-fault={} tce-fetch-fail={} errors={} error-regs={}]",
        st.split_busy,
        st.softstop_faults,
        st.tce_fetch_fail,
        if st.error_latched {
            " error-latched"
        } else {
            ""
        },
        s.split_busy_reads,
        s.softstop_faults,
        s.tce_fetch_failures,
        s.errors_latched,
        s.error_regs_set,
    );
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn spec_items_parse() {
        assert_eq!(
            parse_item("calgary1.2/split-busy=150"),
            Ok((1, 2, sys::CALGARY_INJECT_SPLIT_BUSY, "150"))
        );
        assert_eq!(
            parse_item("calgary0.0/error=0x80000000:0x10"),
            Ok((0, 0, sys::CALGARY_INJECT_ERROR, "0x80000000:0x10"))
        );
        assert!(parse_item("calgary0.4/split-busy=1")
            .unwrap_err()
            .contains("no PHB 4"));
        assert!(parse_item("calgary0.1/bogus=1")
            .unwrap_err()
            .contains("unknown kind"));
        assert!(parse_item("phb1/split-busy=1").is_err());
        assert!(parse_item("calgary0.1/split-busy").is_err());
    }

    #[test]
    fn text_forms_parse() {
        assert_eq!(
            parse(sys::CALGARY_INJECT_TCE_FETCH_FAIL, "0x10"),
            Ok(Injection::TceFetchFail(16))
        );
        assert_eq!(
            parse(sys::CALGARY_INJECT_ERROR, "0x9000:0x1"),
            Ok(Injection::LatchError {
                csr: 0x9000,
                plssr: 1
            })
        );
        assert!(parse(sys::CALGARY_INJECT_SPLIT_BUSY, "-1").is_err());
        assert!(parse(99, "1").is_err());
    }
}
