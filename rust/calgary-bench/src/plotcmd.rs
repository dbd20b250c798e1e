//! `plot`: a line chart (PNG) from a CSV, for bench.py (no matplotlib).
//!   --csv F --x COL --y COL --series COL[,COL] [--where COL=V[,COL=V]]
//!   [--title T] [--xlabel L] [--ylabel L] [--log2x] [--ymin V --ymax V]
//!   [--hline V:LABEL]... --out F.png

use crate::plot::{self, Chart, Series};
use crate::Args;
use std::collections::BTreeMap;

pub fn run(a: &Args) -> Result<(), String> {
    let csv = a.get("csv").ok_or("plot needs --csv")?;
    let text = std::fs::read_to_string(csv).map_err(|e| format!("{csv}: {e}"))?;
    let mut lines = text.lines();
    let head: Vec<&str> = lines.next().ok_or("empty csv")?.split(',').collect();
    let col = |n: &str| {
        head.iter()
            .position(|h| *h == n)
            .ok_or(format!("no column '{n}' in {csv}"))
    };
    let xc = col(a.get("x").ok_or("--x")?)?;
    let yc = col(a.get("y").ok_or("--y")?)?;
    let sc: Vec<usize> = a
        .get_or("series", "")
        .split(',')
        .filter(|s| !s.is_empty())
        .map(col)
        .collect::<Result<_, _>>()?;
    let mut wh = Vec::new();
    for w in a.get_or("where", "").split(',').filter(|s| !s.is_empty()) {
        let (k, v) = w.split_once('=').ok_or("--where COL=V")?;
        wh.push((col(k)?, v.to_string()));
    }
    let mut groups: BTreeMap<String, Vec<(f64, f64)>> = BTreeMap::new();
    let mut order: Vec<String> = Vec::new();
    for l in lines {
        let f: Vec<&str> = l.split(',').collect();
        if f.len() < head.len() || wh.iter().any(|(c, v)| f[*c] != v) {
            continue;
        }
        let (Ok(x), Ok(y)) = (f[xc].parse::<f64>(), f[yc].parse::<f64>()) else {
            continue;
        };
        let name = sc.iter().map(|&c| f[c]).collect::<Vec<_>>().join(" ");
        if !groups.contains_key(&name) {
            order.push(name.clone());
        }
        groups.entry(name).or_default().push((x, y));
    }
    let series = order
        .into_iter()
        .map(|n| {
            let mut p = groups.remove(&n).unwrap_or_default();
            p.sort_by(|a, b| a.0.partial_cmp(&b.0).unwrap_or(std::cmp::Ordering::Equal));
            Series { name: n, points: p }
        })
        .collect();
    let y_range = match (a.get("ymin"), a.get("ymax")) {
        (Some(lo), Some(hi)) => Some((
            lo.parse().map_err(|_| "--ymin")?,
            hi.parse().map_err(|_| "--ymax")?,
        )),
        _ => None,
    };
    let mut hlines = Vec::new();
    for h in a.all("hline") {
        let (v, l) = h.split_once(':').unwrap_or((h, ""));
        hlines.push((
            v.parse().map_err(|_| format!("--hline {h}"))?,
            l.to_string(),
        ));
    }
    let chart = Chart {
        title: a.get_or("title", "").into(),
        xlabel: a.get_or("xlabel", a.get_or("x", "")).into(),
        ylabel: a.get_or("ylabel", a.get_or("y", "")).into(),
        log2_x: a.flag("log2x"),
        y_range,
        hlines,
        series,
    };
    let out = a.get("out").ok_or("--out")?;
    plot::render(&chart, std::path::Path::new(out)).map_err(|e| format!("{out}: {e}"))
}
