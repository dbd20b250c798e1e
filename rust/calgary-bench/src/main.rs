//! calgary-bench: benchmark workloads and TCE-cache design-space replay.
//!
//! Host side:
//!   calgary-bench replay --trace LOG [--sizes 16,32,..] [--ways 1,2,4,8,full]
//!                        [--policies off,coherent,faithful] [--out DIR]
//!                        [--flush-cost N] [--inval-cost N] [--lines 1,8]
//!   calgary-bench peer [--port 5001]           network peer (run inside the netns)
//!   calgary-bench plot --csv F --x COL --y COL --series COL[,COL] [--where COL=V,..]
//!                      [--title T] [--xlabel L] [--ylabel L] [--log2x] [--hline V:LABEL] --out F.png
//! Guest side (static binary in the bench initramfs):
//!   calgary-bench premap [--bbar 0xfef00000] [--mem 0x10000000:0x4000000]
//!   calgary-bench net --server IP[:PORT] --mode stream|rr --size N --secs S
//!   calgary-bench blk --dev /dev/nvme0n1 --size N --secs S
//!   calgary-bench cpu                         one /proc/stat sample (busy idle)

mod blk;
mod net;
mod plot;
mod plotcmd;
mod premap;
mod replay;

use std::collections::HashMap;
use std::path::PathBuf;

/// `--key value` / `--flag` arguments.
pub struct Args {
    pub kv: HashMap<String, String>,
    pub flags: Vec<String>,
    pub multi: Vec<(String, String)>,
}

impl Args {
    pub fn parse(v: &[String]) -> Result<Args, String> {
        let mut kv = HashMap::new();
        let mut flags = Vec::new();
        let mut multi = Vec::new();
        let mut i = 0;
        while i < v.len() {
            let a = &v[i];
            let Some(k) = a.strip_prefix("--") else {
                return Err(format!("unexpected argument '{a}'"));
            };
            if let Some((k, val)) = k.split_once('=') {
                kv.insert(k.to_string(), val.to_string());
                multi.push((k.to_string(), val.to_string()));
            } else if i + 1 < v.len() && !v[i + 1].starts_with("--") {
                kv.insert(k.to_string(), v[i + 1].clone());
                multi.push((k.to_string(), v[i + 1].clone()));
                i += 1;
            } else {
                flags.push(k.to_string());
            }
            i += 1;
        }
        Ok(Args { kv, flags, multi })
    }
    pub fn get(&self, k: &str) -> Option<&str> {
        self.kv.get(k).map(|s| s.as_str())
    }
    pub fn get_or<'a>(&'a self, k: &str, d: &'a str) -> &'a str {
        self.get(k).unwrap_or(d)
    }
    pub fn num(&self, k: &str, d: u64) -> Result<u64, String> {
        match self.get(k) {
            None => Ok(d),
            Some(s) => parse_num(s).ok_or_else(|| format!("--{k}: bad number '{s}'")),
        }
    }
    pub fn flag(&self, k: &str) -> bool {
        self.flags.iter().any(|f| f == k)
    }
    pub fn all(&self, k: &str) -> Vec<&str> {
        self.multi
            .iter()
            .filter(|(kk, _)| kk == k)
            .map(|(_, v)| v.as_str())
            .collect()
    }
}

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
    Some(v * mul)
}

fn cmd_replay(a: &Args) -> Result<(), String> {
    let trace = PathBuf::from(a.get("trace").ok_or("replay needs --trace <qemu log>")?);
    let sizes = a
        .get_or("sizes", "16,32,64,128,256,512,1024,2048,4096,8192,16384")
        .split(',')
        .map(|s| {
            parse_num(s)
                .map(|v| v as u32)
                .ok_or(format!("bad size '{s}'"))
        })
        .collect::<Result<Vec<_>, _>>()?;
    let ways = a
        .get_or("ways", "1,2,4,8,full")
        .split(',')
        .map(String::from)
        .collect();
    let policies = a
        .get_or("policies", "off,coherent,faithful")
        .split(',')
        .map(replay::parse_policy)
        .collect::<Result<Vec<_>, _>>()?;
    let o = replay::Opts {
        trace,
        sizes,
        ways,
        policies,
        out: PathBuf::from(a.get_or("out", "replay-out")),
        flush_cost: a
            .get_or("flush-cost", "50")
            .parse()
            .map_err(|_| "bad --flush-cost")?,
        inval_cost: a
            .get_or("inval-cost", "0")
            .parse()
            .map_err(|_| "bad --inval-cost")?,
        lines: a
            .get_or("lines", "1,8")
            .split(',')
            .map(|s| s.parse::<u64>().map_err(|_| format!("bad line size '{s}'")))
            .collect::<Result<Vec<_>, _>>()?,
    };
    replay::run(&o)
}

fn main() {
    // RUST_LOG=calgary=info shows the model's diagnostics during a replay.
    env_logger::init();
    let argv: Vec<String> = std::env::args().collect();
    let cmd = argv.get(1).map(|s| s.as_str()).unwrap_or("help");
    let rest = argv.get(2..).unwrap_or(&[]);
    let r = Args::parse(rest).and_then(|a| match cmd {
        "replay" => cmd_replay(&a),
        "plot" => plotcmd::run(&a),
        "peer" => net::peer(&a),
        "net" => net::client(&a),
        "blk" => blk::run(&a),
        "premap" => premap::run(&a),
        "cpu" => {
            println!("{}", net::cpu_line());
            Ok(())
        }
        _ => {
            let src = include_str!("main.rs");
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
    });
    if let Err(e) = r {
        eprintln!("calgary-bench {cmd}: {e}");
        std::process::exit(1);
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
    }
}
