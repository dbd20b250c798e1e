//! What the benchmark's guest workloads (`calgary-bench`, static, in the
//! guest) and its host tools (`calgary-bench-host`) share: the network
//! protocol and the number syntax of the command lines.

pub mod cli;
pub mod proto;

/// A count or size: decimal, `0x` hex, or with a `K`/`M` suffix (binary).
pub fn parse_num(s: &str) -> Option<u64> {
    let s = s.trim();
    let (s, mul) = match s.chars().last()? {
        'k' | 'K' => (&s[..s.len() - 1], 1024),
        'm' | 'M' => (&s[..s.len() - 1], 1024 * 1024),
        _ => (s, 1),
    };
    let v = match s.strip_prefix("0x") {
        Some(h) => u64::from_str_radix(h, 16).ok()?,
        None => s.parse().ok()?,
    };
    v.checked_mul(mul)
}

/// The `help` answer of both binaries: the `//!` lines that open their
/// `main.rs` (`src`), printed; an unknown command is an error after them.
pub fn help(src: &str, cmd: &str) -> Result<(), String> {
    for l in src.lines().take_while(|l| l.starts_with("//!")) {
        println!(
            "{}",
            l.trim_start_matches("//!").strip_prefix(' ').unwrap_or("")
        );
    }
    if cmd == "help" || cmd == "--help" || cmd == "-h" {
        Ok(())
    } else {
        Err(format!("unknown command '{cmd}'"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    #[test]
    fn nums() {
        assert_eq!(parse_num("64K"), Some(65536));
        assert_eq!(parse_num("0x10"), Some(16));
        assert_eq!(parse_num("512"), Some(512));
        assert_eq!(parse_num("2m"), Some(2 << 20));
        assert_eq!(parse_num("K"), None);
        assert_eq!(parse_num("x"), None);
        assert_eq!(parse_num("0xffffffffffffffffK"), None);
    }
}
