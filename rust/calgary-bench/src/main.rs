//! calgary-bench: the benchmark's workloads inside the guest (a static
//! binary in the bench initramfs). The host side (replay, plot, network
//! peer) is `calgary-bench-host` (rust/calgary-bench-host).
//!
//!   calgary-bench premap [--bbar 0xfef00000] [--mem 0x10000000:0x4000000] [--phbs 0,1,..]
//!   calgary-bench net --server IP[:PORT] --mode stream|maerts|rr --size N --secs S [--warmup W] [--threads T]
//!   calgary-bench blk --dev /dev/nvme0n1 --size N --secs S [--warmup W] [--threads T]
//!
//! net/blk: W seconds of warm-up (not counted), then S measured seconds by
//! T threads started together; the measured window prints BENCH-MEASURE and
//! is bracketed by the TCG plugin's marks (rust/calgary-plugin).
//!   calgary-bench cpu                         one /proc/stat sample (busy idle)

mod blk;
mod cpu;
mod measure;
mod net;
mod premap;

use lexopt::Parser;

fn main() {
    // RUST_LOG=calgary=info shows the model's diagnostics during a replay.
    env_logger::init();
    let argv: Vec<String> = std::env::args().collect();
    let cmd = argv.get(1).map(|s| s.as_str()).unwrap_or("help");
    let rest = argv.get(2..).unwrap_or(&[]);
    let p = Parser::from_args(rest);
    let r = match cmd {
        "net" => net::client(p),
        "blk" => blk::run(p),
        "premap" => premap::run(p),
        "cpu" => {
            println!("{}", cpu::line());
            Ok(())
        }
        _ => calgary_bench::help(include_str!("main.rs"), cmd),
    };
    if let Err(e) = r {
        eprintln!("calgary-bench {cmd}: {e}");
        std::process::exit(1);
    }
}
