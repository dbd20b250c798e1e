//! Command-line helpers over `lexopt`, shared by both binaries: every
//! subcommand walks its own options with `lexopt::Parser` and takes values
//! through these, so `--key value` and `--key=value` both work and an
//! unknown or value-less option is an error.

use lexopt::{Arg, Parser};

/// The current option's value as a string.
pub fn text(p: &mut Parser) -> Result<String, String> {
    p.value()
        .map_err(|e| e.to_string())
        .map(|v| v.to_string_lossy().into_owned())
}

/// The current option's value as a number (`parse_num` syntax).
pub fn number(p: &mut Parser, name: &str) -> Result<u64, String> {
    let s = text(p)?;
    crate::parse_num(&s).ok_or_else(|| format!("--{name}: bad number '{s}'"))
}

/// The current option's value as a float.
pub fn float(p: &mut Parser, name: &str) -> Result<f64, String> {
    let s = text(p)?;
    s.trim()
        .parse()
        .map_err(|_| format!("--{name}: bad number '{s}'"))
}

/// The error for an argument the subcommand does not take.
pub fn unexpected(a: Arg) -> String {
    a.unexpected().to_string()
}

/// The next argument, with lexopt's error as a string.
pub fn next(p: &mut Parser) -> Result<Option<Arg<'_>>, String> {
    p.next().map_err(|e| e.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn values_and_errors() {
        let mut p = Parser::from_args(["--size=64K", "--ymin", "-1.5", "--bogus"]);
        assert_eq!(next(&mut p), Ok(Some(Arg::Long("size"))));
        assert_eq!(number(&mut p, "size"), Ok(65536));
        assert_eq!(next(&mut p), Ok(Some(Arg::Long("ymin"))));
        assert_eq!(
            float(&mut p, "ymin"),
            Ok(-1.5),
            "a negative value is a value"
        );
        let a = next(&mut p).expect("ok").expect("some");
        assert!(unexpected(a).contains("--bogus"));
        let mut p = Parser::from_args(["--secs", "soon"]);
        next(&mut p).expect("ok");
        assert!(number(&mut p, "secs").unwrap_err().contains("soon"));
    }
}
