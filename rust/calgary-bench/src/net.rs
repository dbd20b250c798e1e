//! Network load generator (guest side): plain TCP to the host peer
//! (`calgary-bench-host peer`), protocol in `calgary_bench::proto`.

use crate::measure::{self, Work};
use calgary_bench::cli::{float, next, number, text, unexpected};
use calgary_bench::proto::{Header, Mode, PORT};
use lexopt::{Arg, Parser};
use std::io::{Read, Write};
use std::net::{Shutdown, TcpStream};
use std::time::{Duration, Instant};

struct Opts {
    server: String,
    mode: Mode,
    size: usize,
    secs: f64,
    warmup: f64,
    threads: usize,
}

fn parse(mut p: Parser) -> Result<Opts, String> {
    let mut server = None;
    let mut o = Opts {
        server: String::new(),
        mode: Mode::Stream,
        size: 1024,
        secs: 5.0,
        warmup: 0.0,
        threads: 1,
    };
    while let Some(a) = next(&mut p)? {
        match a {
            Arg::Long("server") => server = Some(text(&mut p)?),
            Arg::Long("mode") => o.mode = Mode::parse(&text(&mut p)?)?,
            Arg::Long("size") => o.size = number(&mut p, "size")? as usize,
            Arg::Long("secs") => o.secs = float(&mut p, "secs")?,
            Arg::Long("warmup") => o.warmup = float(&mut p, "warmup")?,
            Arg::Long("threads") => o.threads = number(&mut p, "threads")? as usize,
            a => return Err(unexpected(a)),
        }
    }
    let server = server.ok_or("net needs --server IP[:PORT]")?;
    o.server = if server.contains(':') {
        server
    } else {
        format!("{server}:{PORT}")
    };
    let secs_ok = |x: f64| x.is_finite() && (0.0..=f64::from(u32::MAX)).contains(&x);
    if o.size > u32::MAX as usize || !secs_ok(o.secs) || !secs_ok(o.warmup) {
        return Err("--size / --secs / --warmup out of range".into());
    }
    if o.threads == 0 || o.threads > 64 {
        return Err("--threads must be 1..64".into());
    }
    Ok(o)
}

/// One connection, header sent, ready to run until a deadline.
fn connect(o: &Opts, secs: f64) -> Result<TcpStream, String> {
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
    let limit = Some(Duration::from_secs_f64(secs + 15.0));
    s.set_read_timeout(limit).map_err(|e| e.to_string())?;
    s.set_write_timeout(limit).map_err(|e| e.to_string())?;
    let h = Header {
        mode: o.mode,
        size: o.size as u32,
        secs: secs.ceil() as u32,
    };
    s.write_all(&h.encode()).map_err(|e| e.to_string())?;
    if o.mode == Mode::Rr {
        s.set_nodelay(true).map_err(|e| e.to_string())?;
    }
    Ok(s)
}

/// Drive one connection until `end`: bytes as the peer counted them (stream),
/// as received (maerts), or both ways (rr).
fn drive(o: &Opts, mut s: TcpStream, end: Instant) -> Result<Work, String> {
    let size = o.size;
    let mut buf = vec![0xa5u8; size.max(1)];
    let mut w = Work::default();
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
            w.bytes = u64::from_le_bytes(n);
        }
        Mode::Maerts => {
            let mut big = vec![0u8; 256 * 1024];
            loop {
                let r = s.read(&mut big).map_err(|e| e.to_string())?;
                if r == 0 {
                    break;
                }
                w.bytes += r as u64;
            }
        }
        Mode::Rr => {
            while Instant::now() < end {
                s.write_all(&buf).map_err(|e| e.to_string())?;
                s.read_exact(&mut buf).map_err(|e| e.to_string())?;
                w.ops += 1;
                w.bytes += 2 * size as u64;
            }
        }
    }
    Ok(w)
}

pub fn client(p: Parser) -> Result<(), String> {
    let o = parse(p)?;
    // Warm-up on its own connections: translation caches, TCP windows and
    // the device queues settle before the measured connections start.
    if o.warmup > 0.0 {
        measure::window(
            o.threads,
            o.warmup,
            false,
            |_| connect(&o, o.warmup),
            |_, s, end| drive(&o, s, end),
        )?;
    }
    let w = measure::window(
        o.threads,
        o.secs,
        true,
        |_| connect(&o, o.secs),
        |_, s, end| drive(&o, s, end),
    )?;
    println!(
        "{}",
        measure::report("net", o.mode.name(), o.size, o.threads, &w)
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
            (
                o.server.as_str(),
                o.mode,
                o.size,
                o.secs,
                o.warmup,
                o.threads
            ),
            ("10.77.2.1:5001", Mode::Rr, 64, 2.0, 0.0, 1)
        );
        let o = opts(&[
            "--server=x",
            "--secs=4.5",
            "--warmup",
            "1",
            "--threads",
            "4",
        ])
        .expect("parses");
        assert_eq!((o.secs, o.warmup, o.threads), (4.5, 1.0, 4));
        assert!(opts(&["--server=x", "--threads=0"]).is_err());
        assert!(opts(&["--server=x", "--secs=-1"]).is_err());
        let o = opts(&["--server=10.0.0.1", "--size=64K"]).expect("parses");
        assert_eq!((o.server.as_str(), o.size), ("10.0.0.1:5001", 65536));
        assert!(opts(&["--mode", "stream"]).is_err(), "server is required");
        assert!(opts(&["--server", "x", "--sise", "1"]).is_err());
        assert!(opts(&["--server", "x", "--size"]).is_err());
    }
}
