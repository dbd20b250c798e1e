//! Argument and range-file parsing (pure, unit-tested).

use std::collections::BTreeSet;

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Range {
    pub name: String,
    pub start: u64,
    pub end: u64,
}

#[derive(Debug, Default)]
pub struct Config {
    pub out: Option<String>,
    pub ranges: Vec<Range>,
    /// `syms=` names not found in the map (reported, not fatal: one symbol
    /// list can then serve several kernels).
    pub missing: Vec<String>,
}

pub fn parse_hex(s: &str) -> Result<u64, String> {
    let t = s.trim();
    let t = t
        .strip_prefix("0x")
        .or_else(|| t.strip_prefix("0X"))
        .unwrap_or(t);
    u64::from_str_radix(t, 16).map_err(|e| format!("bad address '{s}': {e}"))
}

/// `name start end` lines.
pub fn parse_ranges_file(text: &str) -> Result<Vec<Range>, String> {
    let mut v = Vec::new();
    for (no, line) in text.lines().enumerate() {
        let line = line.split('#').next().unwrap_or("").trim();
        if line.is_empty() {
            continue;
        }
        let f: Vec<&str> = line.split_whitespace().collect();
        if f.len() != 3 {
            return Err(format!(
                "ranges line {}: expected 'name start end', got '{line}'",
                no + 1
            ));
        }
        let (start, end) = (parse_hex(f[1])?, parse_hex(f[2])?);
        if end <= start {
            return Err(format!("ranges line {}: end <= start", no + 1));
        }
        v.push(Range {
            name: f[0].to_string(),
            start,
            end,
        });
    }
    Ok(v)
}

/// Symbols from a System.map; each runs to the next higher address.
/// Returns the ranges and the requested names that matched nothing.
pub fn ranges_from_map(map: &str, syms: &[String]) -> (Vec<Range>, Vec<String>) {
    let mut entries: Vec<(u64, &str)> = Vec::new();
    for line in map.lines() {
        let f: Vec<&str> = line.split_whitespace().collect();
        if f.len() < 3 {
            continue;
        }
        if let Ok(a) = u64::from_str_radix(f[0], 16) {
            entries.push((a, f[2]));
        }
    }
    let addrs: BTreeSet<u64> = entries.iter().map(|e| e.0).collect();
    let mut out = Vec::new();
    let mut missing = Vec::new();
    for want in syms {
        let (prefix, glob) = match want.strip_suffix('*') {
            Some(p) => (p, true),
            None => (want.as_str(), false),
        };
        let mut found = false;
        for &(a, name) in &entries {
            let hit = if glob {
                name.starts_with(prefix)
            } else {
                name == prefix
            };
            if !hit || out.iter().any(|r: &Range| r.name == name) {
                continue;
            }
            let end = addrs.range(a + 1..).next().copied().unwrap_or(a + 1);
            out.push(Range {
                name: name.to_string(),
                start: a,
                end,
            });
            found = true;
        }
        if !found {
            missing.push(want.clone());
        }
    }
    (out, missing)
}

pub fn parse_args(args: &[String]) -> Result<Config, String> {
    let mut cfg = Config::default();
    let mut map = None;
    let mut syms: Vec<String> = Vec::new();
    for a in args {
        let (k, v) = a
            .split_once('=')
            .ok_or_else(|| format!("argument '{a}' is not key=value"))?;
        match k {
            "out" => cfg.out = Some(v.to_string()),
            "ranges" => {
                let t = std::fs::read_to_string(v).map_err(|e| format!("ranges={v}: {e}"))?;
                cfg.ranges.extend(parse_ranges_file(&t)?);
            }
            "map" => map = Some(v.to_string()),
            "syms" | "sym" => syms.extend(
                v.split([',', ';', ':'])
                    .filter(|s| !s.is_empty())
                    .map(String::from),
            ),
            "range" => {
                let f: Vec<&str> = v.split(':').collect();
                if f.len() != 3 {
                    return Err(format!("range={v}: expected name:start:end"));
                }
                cfg.ranges.push(Range {
                    name: f[0].into(),
                    start: parse_hex(f[1])?,
                    end: parse_hex(f[2])?,
                });
            }
            _ => {
                return Err(format!(
                    "unknown argument '{k}' (known: out, ranges, map, syms, range)"
                ))
            }
        }
    }
    if !syms.is_empty() {
        let m = map.ok_or("syms= needs map=<System.map>")?;
        let t = std::fs::read_to_string(&m).map_err(|e| format!("map={m}: {e}"))?;
        let (r, missing) = ranges_from_map(&t, &syms);
        if r.is_empty() {
            return Err(format!("none of the symbols {syms:?} is in {m}"));
        }
        cfg.ranges.extend(r);
        cfg.missing = missing;
    } else if map.is_some() {
        return Err("map= given without syms=".into());
    }
    Ok(cfg)
}

#[cfg(test)]
mod tests {
    use super::*;

    const MAP: &str = "ffffffff81000000 T _text\nffffffff81001000 T foo\nffffffff81001000 t foo_alias\nffffffff81001040 T bar\nffffffff81001100 T bar_two\nffffffff81002000 T zed\n";

    #[test]
    fn map_ranges_end_at_next_address() {
        let (r, miss) = ranges_from_map(MAP, &["foo".into(), "bar*".into(), "nope".into()]);
        assert_eq!(miss, vec!["nope".to_string()]);
        assert_eq!(
            r[0],
            Range {
                name: "foo".into(),
                start: 0xffffffff81001000,
                end: 0xffffffff81001040
            }
        );
        assert_eq!(r[1].name, "bar");
        assert_eq!(r[1].end, 0xffffffff81001100);
        assert_eq!(r[2].name, "bar_two");
        assert_eq!(r.len(), 3);
    }

    #[test]
    fn ranges_file() {
        let r = parse_ranges_file("# c\nx 0x10 0x20\ny 30 40 # t\n").unwrap();
        assert_eq!(r.len(), 2);
        assert_eq!(
            r[1],
            Range {
                name: "y".into(),
                start: 0x30,
                end: 0x40
            }
        );
        assert!(parse_ranges_file("x 20 10").is_err());
    }

    #[test]
    fn json_shape() {
        let r = vec![Range {
            name: "a\"b".into(),
            start: 1,
            end: 2,
        }];
        let marks = vec![
            crate::Mark {
                kind: crate::MarkKind::Begin,
                vcpu: 0,
                slots: vec![100, 90, 10, 7, 1],
            },
            crate::Mark {
                kind: crate::MarkKind::End,
                vcpu: 2,
                slots: vec![300, 250, 50, 27, 3],
            },
        ];
        let j = crate::render_json(&r, 1, &marks, |s| s as u64 * 10);
        assert!(j.starts_with("{\"total\":0,\"kernel\":10,\"nonkernel\":20,\"vcpus\":1"));
        assert!(j.contains("\"name\":\"a\\\"b\""));
        assert!(j.contains("\"insns\":30,\"calls\":40"));
        assert!(j.contains(
            "{\"kind\":\"begin\",\"vcpu\":0,\"total\":100,\"kernel\":90,\"nonkernel\":10,\"insns\":[7],\"calls\":[1]}"
        ));
        assert!(j.contains("{\"kind\":\"end\",\"vcpu\":2,\"total\":300,"));
        assert!(j.trim_end().ends_with("]}"));
        let none = crate::render_json(&r, 1, &[], |_| 0);
        assert!(none.contains("\"marks\":[\n]}"));
    }

    #[test]
    fn mark_instructions() {
        use crate::{mark_kind, MarkKind};
        assert_eq!(mark_kind(&[0x66, 0x87, 0xdb]), Some(MarkKind::Begin));
        assert_eq!(mark_kind(&[0x66, 0x87, 0xc9]), Some(MarkKind::End));
        // xchg %dx,%dx, a plain xchg, a short read: not marks
        assert_eq!(mark_kind(&[0x66, 0x87, 0xd2]), None);
        assert_eq!(mark_kind(&[0x87, 0xdb]), None);
        assert_eq!(mark_kind(&[0x66, 0x87]), None);
    }
}
