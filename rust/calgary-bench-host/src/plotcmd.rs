//! `plot`: a line chart (PNG) of one CSV, for bench.py.
//!   --csv F --x COL --y COL --series COL[,COL] [--where COL=V[,COL=V]]
//!   [--title T] [--xlabel L] [--ylabel L] [--log2x] [--ymin V --ymax V]
//!   [--hline V:LABEL]... --out F.png
//! Rows whose x or y is not a number are left out; one series per distinct
//! value of the --series columns, in order of first appearance.

use crate::plot::{self, Chart, Series};
use calgary_bench::cli::{float, next, text, unexpected};
use lexopt::{Arg, Parser};
use std::collections::HashMap;
use std::path::PathBuf;

#[derive(Debug, Default, PartialEq)]
struct Opts {
    csv: PathBuf,
    x: String,
    y: String,
    series: Vec<String>,
    filter: Vec<(String, String)>,
    title: String,
    xlabel: Option<String>,
    ylabel: Option<String>,
    log2x: bool,
    ymin: Option<f64>,
    ymax: Option<f64>,
    hlines: Vec<(f64, String)>,
    out: PathBuf,
}

fn list(s: &str) -> impl Iterator<Item = &str> {
    s.split(',').map(str::trim).filter(|s| !s.is_empty())
}

fn parse(mut p: Parser) -> Result<Opts, String> {
    let mut o = Opts::default();
    let (mut csv, mut out) = (None, None);
    while let Some(a) = next(&mut p)? {
        match a {
            Arg::Long("csv") => csv = Some(text(&mut p)?),
            Arg::Long("x") => o.x = text(&mut p)?,
            Arg::Long("y") => o.y = text(&mut p)?,
            Arg::Long("series") => o.series = list(&text(&mut p)?).map(String::from).collect(),
            Arg::Long("where") => {
                for w in list(&text(&mut p)?) {
                    let (k, v) = w.split_once('=').ok_or("--where COL=V[,COL=V]")?;
                    o.filter.push((k.to_string(), v.to_string()));
                }
            }
            Arg::Long("title") => o.title = text(&mut p)?,
            Arg::Long("xlabel") => o.xlabel = Some(text(&mut p)?),
            Arg::Long("ylabel") => o.ylabel = Some(text(&mut p)?),
            Arg::Long("log2x") => o.log2x = true,
            Arg::Long("ymin") => o.ymin = Some(float(&mut p, "ymin")?),
            Arg::Long("ymax") => o.ymax = Some(float(&mut p, "ymax")?),
            Arg::Long("hline") => {
                let h = text(&mut p)?;
                let (v, l) = h.split_once(':').unwrap_or((&h, ""));
                let v = v.trim().parse().map_err(|_| format!("--hline {h}"))?;
                o.hlines.push((v, l.to_string()));
            }
            Arg::Long("out") => out = Some(text(&mut p)?),
            a => return Err(unexpected(a)),
        }
    }
    o.csv = csv.ok_or("plot needs --csv")?.into();
    o.out = out.ok_or("plot needs --out")?.into();
    if o.x.is_empty() || o.y.is_empty() {
        return Err("plot needs --x and --y".into());
    }
    if o.ymin.is_some() != o.ymax.is_some() {
        return Err("--ymin and --ymax go together".into());
    }
    Ok(o)
}

/// The series of the CSV that `o` selects.
fn read_series(o: &Opts) -> Result<Vec<Series>, String> {
    let csv = o.csv.display();
    let mut rdr = csv::Reader::from_path(&o.csv).map_err(|e| format!("{csv}: {e}"))?;
    let head = rdr.headers().map_err(|e| format!("{csv}: {e}"))?.clone();
    let col = |n: &str| {
        head.iter()
            .position(|h| h == n)
            .ok_or(format!("no column '{n}' in {csv}"))
    };
    let (xc, yc) = (col(&o.x)?, col(&o.y)?);
    let sc: Vec<usize> = o.series.iter().map(|s| col(s)).collect::<Result<_, _>>()?;
    let wh: Vec<(usize, &str)> = o
        .filter
        .iter()
        .map(|(k, v)| Ok((col(k)?, v.as_str())))
        .collect::<Result<_, String>>()?;
    let mut series: Vec<Series> = Vec::new();
    let mut index: HashMap<String, usize> = HashMap::new();
    for rec in rdr.records() {
        let rec = rec.map_err(|e| format!("{csv}: {e}"))?;
        let field = |c: usize| rec.get(c).unwrap_or("");
        if wh.iter().any(|&(c, v)| field(c) != v) {
            continue;
        }
        let (Ok(x), Ok(y)) = (field(xc).parse::<f64>(), field(yc).parse::<f64>()) else {
            continue;
        };
        let name = sc.iter().map(|&c| field(c)).collect::<Vec<_>>().join(" ");
        let i = *index.entry(name.clone()).or_insert_with(|| {
            series.push(Series {
                name,
                points: Vec::new(),
            });
            series.len() - 1
        });
        series[i].points.push((x, y));
    }
    for s in &mut series {
        s.points.sort_by(|a, b| a.0.total_cmp(&b.0));
    }
    Ok(series)
}

pub fn run(p: Parser) -> Result<(), String> {
    let o = parse(p)?;
    let series = read_series(&o)?;
    let chart = Chart {
        title: o.title.clone(),
        xlabel: o.xlabel.clone().unwrap_or_else(|| o.x.clone()),
        ylabel: o.ylabel.clone().unwrap_or_else(|| o.y.clone()),
        log2_x: o.log2x,
        y_range: o.ymin.zip(o.ymax),
        hlines: o.hlines.clone(),
        series,
    };
    plot::render(&chart, &o.out).map_err(|e| format!("{}: {e}", o.out.display()))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn opts(args: &[&str]) -> Result<Opts, String> {
        parse(Parser::from_args(args.iter().copied()))
    }

    #[test]
    fn bench_py_command_line() {
        let o = opts(&[
            "--csv",
            "s.csv",
            "--x",
            "size",
            "--y",
            "tput_ratio",
            "--series",
            "config",
            "--where",
            "workload=net-virtio-rr",
            "--log2x",
            "--ymin",
            "0",
            "--ymax",
            "1.2",
            "--hline",
            "1:no IOMMU",
            "--title",
            "T",
            "--xlabel",
            "message size",
            "--ylabel",
            "ratio",
            "--out",
            "o.png",
        ])
        .expect("parses");
        assert_eq!(o.series, vec!["config"]);
        assert_eq!(
            o.filter,
            vec![("workload".to_string(), "net-virtio-rr".to_string())]
        );
        assert!(o.log2x);
        assert_eq!((o.ymin, o.ymax), (Some(0.0), Some(1.2)));
        assert_eq!(o.hlines, vec![(1.0, "no IOMMU".to_string())]);
        assert!(
            opts(&["--csv", "s", "--x", "a", "--y", "b"]).is_err(),
            "--out missing"
        );
        assert!(
            opts(&["--csv", "s", "--x", "a", "--y", "b", "--out", "o", "--ymin", "0"]).is_err()
        );
        assert!(
            opts(&["--csv", "s", "--x", "a", "--y", "b", "--out", "o", "--colour", "r"]).is_err()
        );
    }

    #[test]
    fn series_from_csv_with_quoted_fields() {
        let path = std::env::temp_dir().join(format!("calgary-plotcmd-{}.csv", std::process::id()));
        std::fs::write(
            &path,
            "config,workload,size,ratio\n\
             b,\"net, rr\",1024,0.5\n\
             a,\"net, rr\",64,0.25\n\
             b,\"net, rr\",64,0.75\n\
             a,blk,64,9\n\
             a,\"net, rr\",128,\n",
        )
        .expect("write csv");
        let o = Opts {
            csv: path.clone(),
            x: "size".into(),
            y: "ratio".into(),
            series: vec!["config".into()],
            filter: vec![("workload".into(), "net, rr".into())],
            ..Opts::default()
        };
        let s = read_series(&o).expect("reads");
        let bad = Opts {
            y: "nope".into(),
            ..Opts::default()
        };
        let bad = Opts {
            csv: path.clone(),
            x: "size".into(),
            ..bad
        };
        let e = read_series(&bad).expect_err("no such column");
        std::fs::remove_file(&path).ok();
        assert!(e.contains("no column 'nope'"), "{e}");
        assert_eq!(s.len(), 2);
        assert_eq!(s[0].name, "b", "order of first appearance");
        assert_eq!(
            s[0].points,
            vec![(64.0, 0.75), (1024.0, 0.5)],
            "sorted by x"
        );
        assert_eq!(
            s[1].points,
            vec![(64.0, 0.25)],
            "empty y left out, other workload filtered"
        );
    }
}
