//! Network load generator (guest side): plain TCP to the host peer
//! (`calgary-bench-host peer`), protocol in `calgary_bench::proto`.

use crate::cpu;
use calgary_bench::cli::{next, number, text, unexpected};
use calgary_bench::proto::{Header, Mode, PORT};
use lexopt::{Arg, Parser};
use std::io::{Read, Write};
use std::net::{Shutdown, TcpStream};
use std::time::{Duration, Instant};

struct Opts {
    server: String,
    mode: Mode,
    size: usize,
    secs: u64,
}

fn parse(mut p: Parser) -> Result<Opts, String> {
    let mut server = None;
    let mut o = Opts {
        server: String::new(),
        mode: Mode::Stream,
        size: 1024,
        secs: 5,
    };
    while let Some(a) = next(&mut p)? {
        match a {
            Arg::Long("server") => server = Some(text(&mut p)?),
            Arg::Long("mode") => o.mode = Mode::parse(&text(&mut p)?)?,
            Arg::Long("size") => o.size = number(&mut p, "size")? as usize,
            Arg::Long("secs") => o.secs = number(&mut p, "secs")?,
            a => return Err(unexpected(a)),
        }
    }
    let server = server.ok_or("net needs --server IP[:PORT]")?;
    o.server = if server.contains(':') {
        server
    } else {
        format!("{server}:{PORT}")
    };
    if o.size > u32::MAX as usize || o.secs > u64::from(u32::MAX) {
        return Err("--size / --secs out of range".into());
    }
    Ok(o)
}

pub fn client(p: Parser) -> Result<(), String> {
    let o = parse(p)?;
    let (size, secs) = (o.size, o.secs);
    let mut s = None;
    for _ in 0..50 {
        match TcpStream::connect(&o.server) {
            Ok(c) => {
                s = Some(c);
                break;
            }
            Err(_) => std::thread::sleep(Duration::from_millis(200)),
        }
    }
    let mut s = s.ok_or(format!("cannot connect to {}", o.server))?;
    // Never hang a whole benchmark on one lost connection.
    let limit = Some(Duration::from_secs(secs + 15));
    s.set_read_timeout(limit).map_err(|e| e.to_string())?;
    s.set_write_timeout(limit).map_err(|e| e.to_string())?;
    let h = Header {
        mode: o.mode,
        size: size as u32,
        secs: secs as u32,
    };
    s.write_all(&h.encode()).map_err(|e| e.to_string())?;
    let mut buf = vec![0xa5u8; size.max(1)];
    let c0 = cpu::sample();
    let t0 = Instant::now();
    let end = t0 + Duration::from_secs(secs);
    let mut bytes = 0u64;
    let mut trans = 0u64;
    match o.mode {
        Mode::Stream => {
            while Instant::now() < end {
                for _ in 0..16 {
                    s.write_all(&buf).map_err(|e| e.to_string())?;
                }
            }
            s.shutdown(Shutdown::Write).map_err(|e| e.to_string())?;
            let mut n = [0u8; 8];
            s.read_exact(&mut n)
                .map_err(|e| format!("peer count: {e}"))?;
            bytes = u64::from_le_bytes(n);
        }
        Mode::Maerts => {
            let mut big = vec![0u8; 256 * 1024];
            loop {
                let r = s.read(&mut big).map_err(|e| e.to_string())?;
                if r == 0 {
                    break;
                }
                bytes += r as u64;
            }
        }
        Mode::Rr => {
            s.set_nodelay(true).map_err(|e| e.to_string())?;
            while Instant::now() < end {
                s.write_all(&buf).map_err(|e| e.to_string())?;
                s.read_exact(&mut buf).map_err(|e| e.to_string())?;
                trans += 1;
                bytes += 2 * size as u64;
            }
        }
    }
    let el = t0.elapsed().as_secs_f64();
    let busy = cpu::busy_between(c0, cpu::sample());
    println!(
        "BENCH-RESULT kind=net mode={} size={size} secs={el:.3} bytes={bytes} mbps={:.3} tps={:.1} cpu={busy:.4}",
        o.mode.name(),
        bytes as f64 * 8.0 / el / 1e6,
        trans as f64 / el
    );
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn opts(args: &[&str]) -> Result<Opts, String> {
        parse(Parser::from_args(args.iter().copied()))
    }

    #[test]
    fn command_lines_of_bench_init() {
        let o = opts(&[
            "--server",
            "10.77.2.1:5001",
            "--mode",
            "rr",
            "--size",
            "64",
            "--secs",
            "2",
        ])
        .expect("parses");
        assert_eq!(
            (o.server.as_str(), o.mode, o.size, o.secs),
            ("10.77.2.1:5001", Mode::Rr, 64, 2)
        );
        let o = opts(&["--server=10.0.0.1", "--size=64K"]).expect("parses");
        assert_eq!((o.server.as_str(), o.size), ("10.0.0.1:5001", 65536));
        assert!(opts(&["--mode", "stream"]).is_err(), "server is required");
        assert!(opts(&["--server", "x", "--sise", "1"]).is_err());
        assert!(opts(&["--server", "x", "--size"]).is_err());
    }
}
