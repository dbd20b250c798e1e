//! calgary-bench-host: the benchmark's tools on the host. The workloads
//! inside the guest are `calgary-bench` (rust/calgary-bench).
//!
//!   calgary-bench-host replay --trace LOG [--sizes 16,32,..] [--ways 1,2,4,8,full]
//!                             [--policies off,coherent,faithful] [--out DIR]
//!                             [--flush-cost N] [--inval-cost N] [--lines 1,8]
//!   calgary-bench-host plot --csv F --x COL --y COL --series COL[,COL] [--where COL=V,..]
//!                           [--title T] [--xlabel L] [--ylabel L] [--log2x]
//!                           [--ymin V --ymax V] [--hline V:LABEL].. --out F.png
//!   calgary-bench-host peer [--port 5001]    network peer (run inside the netns)
//!   calgary-bench-host calibrate [--secs 3] [--mib 64]
//!                                 the host's speed over one window (fixed work)
//!
//! Charts need a TrueType font: DejaVu Sans (Debian's fonts-dejavu-core,
//! installed by the setup) or the file named by CALGARY_FONT.

mod calibrate;
mod peer;
mod plot;
mod plotcmd;
mod replay;

use lexopt::Parser;

fn main() {
    env_logger::init();
    let argv: Vec<String> = std::env::args().collect();
    let cmd = argv.get(1).map(|s| s.as_str()).unwrap_or("help");
    let rest = argv.get(2..).unwrap_or(&[]);
    let p = Parser::from_args(rest);
    let r = match cmd {
        "replay" => replay::cmd(p),
        "plot" => plotcmd::run(p),
        "peer" => peer::run(p),
        "calibrate" => calibrate::run(p),
        _ => calgary_bench::help(include_str!("main.rs"), cmd),
    };
    if let Err(e) = r {
        eprintln!("calgary-bench-host {cmd}: {e}");
        std::process::exit(1);
    }
}
