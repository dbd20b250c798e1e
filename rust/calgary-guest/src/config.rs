//! The tool's parameters: `calgary.*` on the kernel command line, `key=value`
//! arguments, and the reserved memory region.

use crate::*;

pub(crate) struct Config {
    pub(crate) kv: BTreeMap<String, String>,
    pub(crate) cmdline: String,
}

impl Config {
    pub(crate) fn load() -> Config {
        let cmdline = fs::read_to_string("/proc/cmdline").unwrap_or_default();
        let mut kv = BTreeMap::new();
        add_tokens(&mut kv, &cmdline);
        // Kernels with a 256-byte command line (x86-64 before 2.6.22) get
        // the tool's parameters from a file the runner adds to the initramfs.
        if let Ok(extra) = fs::read_to_string(ARGS_FILE) {
            add_tokens(&mut kv, &extra);
        }
        for a in std::env::args().skip(1) {
            let a = a.trim_start_matches("--");
            if let Some((k, v)) = a.split_once('=') {
                kv.insert(k.trim_start_matches("calgary.").to_string(), v.to_string());
            } else {
                kv.insert(a.to_string(), "1".to_string());
            }
        }
        Config { kv, cmdline }
    }
    pub(crate) fn get(&self, k: &str) -> Option<&str> {
        self.kv.get(k).map(|s| s.as_str())
    }
    pub(crate) fn get_or<'a>(&'a self, k: &str, d: &'a str) -> &'a str {
        self.get(k).unwrap_or(d)
    }
    /// Reserved region from `calgary.mem=ADDR:SIZE` or the first
    /// `memmap=SIZE$ADDR` of at least 16 MiB.
    pub(crate) fn reserved(&self) -> Option<(u64, u64)> {
        if let Some(m) = self.get("mem") {
            let (a, s) = m.split_once(':')?;
            return Some((parse_num(a)?, parse_num(s)?));
        }
        for tok in self.cmdline.split_whitespace() {
            if let Some(rest) = tok.strip_prefix("memmap=") {
                for part in rest.split(',') {
                    if let Some((s, a)) = part.split_once('$') {
                        if let (Some(s), Some(a)) = (parse_num(s), parse_num(a)) {
                            if s >= 16 << 20 {
                                return Some((a, s));
                            }
                        }
                    }
                }
            }
        }
        None
    }
}

/// `calgary.key=value` tokens the runner puts into the initramfs when the
/// kernel's command line is too short for them (same syntax as the command
/// line; a value here overrides the command line's).
pub(crate) const ARGS_FILE: &str = "/calgary.args";

/// Adds the `calgary.key=value` tokens of `text` (whitespace-separated).
pub(crate) fn add_tokens(kv: &mut BTreeMap<String, String>, text: &str) {
    for tok in text.split_whitespace() {
        if let Some(rest) = tok.strip_prefix("calgary.") {
            if let Some((k, v)) = rest.split_once('=') {
                kv.insert(k.to_string(), v.to_string());
            }
        }
    }
}

pub(crate) fn parse_num(s: &str) -> Option<u64> {
    let s = s.trim();
    let (num, mul) = match s.chars().last()? {
        'K' | 'k' => (&s[..s.len() - 1], 1u64 << 10),
        'M' | 'm' => (&s[..s.len() - 1], 1u64 << 20),
        'G' | 'g' => (&s[..s.len() - 1], 1u64 << 30),
        _ => (s, 1),
    };
    let v = if let Some(h) = num.strip_prefix("0x").or_else(|| num.strip_prefix("0X")) {
        u64::from_str_radix(h, 16).ok()?
    } else {
        num.parse().ok()?
    };
    v.checked_mul(mul)
}
