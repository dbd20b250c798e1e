//! Network load generator (guest) and peer (host, inside a network
//! namespace behind a tap device). Plain TCP, std only.
//!
//! Protocol: the client sends a 16-byte header `mode:u32 size:u32 secs:u32 0`
//! (little endian), then
//! - stream: client writes `size`-byte messages for `secs`, shuts down its
//!   write side; the peer answers with the byte count it received (u64).
//! - maerts: the peer writes `size`-byte messages for `secs`, then closes.
//! - rr: client writes `size` bytes, peer echoes `size` bytes, repeat.

use crate::Args;
use std::io::{Read, Write};
use std::net::{Shutdown, TcpListener, TcpStream};
use std::time::{Duration, Instant};

const STREAM: u32 = 1;
const MAERTS: u32 = 2;
const RR: u32 = 3;

fn mode_of(s: &str) -> Result<u32, String> {
    match s {
        "stream" => Ok(STREAM),
        "maerts" => Ok(MAERTS),
        "rr" => Ok(RR),
        _ => Err(format!("unknown mode '{s}' (stream, maerts, rr)")),
    }
}

/// One /proc/stat "cpu" sample: (busy, total) jiffies.
pub fn cpu_sample() -> (u64, u64) {
    let s = std::fs::read_to_string("/proc/stat").unwrap_or_default();
    let l = s.lines().next().unwrap_or("");
    let v: Vec<u64> = l
        .split_whitespace()
        .skip(1)
        .filter_map(|x| x.parse().ok())
        .collect();
    let total: u64 = v.iter().take(8).sum();
    let idle = v.get(3).copied().unwrap_or(0) + v.get(4).copied().unwrap_or(0);
    (total - idle, total)
}

pub fn cpu_line() -> String {
    let (b, t) = cpu_sample();
    format!("busy={b} total={t}")
}

fn serve(mut s: TcpStream) -> std::io::Result<()> {
    let mut h = [0u8; 16];
    s.read_exact(&mut h)?;
    let mode = u32::from_le_bytes(h[0..4].try_into().unwrap_or_default());
    let size = u32::from_le_bytes(h[4..8].try_into().unwrap_or_default()) as usize;
    let secs = u32::from_le_bytes(h[8..12].try_into().unwrap_or_default());
    let mut buf = vec![0x5au8; size.max(1)];
    match mode {
        STREAM => {
            let mut big = vec![0u8; 256 * 1024];
            let mut n = 0u64;
            loop {
                let r = s.read(&mut big)?;
                if r == 0 {
                    break;
                }
                n += r as u64;
            }
            s.write_all(&n.to_le_bytes())?;
        }
        MAERTS => {
            let end = Instant::now() + Duration::from_secs(secs as u64);
            while Instant::now() < end {
                if s.write_all(&buf).is_err() {
                    break;
                }
            }
            let _ = s.shutdown(Shutdown::Write);
        }
        RR => {
            s.set_nodelay(true)?;
            loop {
                match s.read_exact(&mut buf) {
                    Ok(()) => s.write_all(&buf)?,
                    Err(_) => break,
                }
            }
        }
        _ => {}
    }
    Ok(())
}

pub fn peer(a: &Args) -> Result<(), String> {
    let port = a.num("port", 5001)?;
    let l =
        TcpListener::bind(("0.0.0.0", port as u16)).map_err(|e| format!("bind :{port}: {e}"))?;
    eprintln!("calgary-bench peer listening on :{port}");
    for s in l.incoming() {
        match s {
            Ok(s) => {
                std::thread::spawn(move || {
                    let _ = serve(s);
                });
            }
            Err(e) => eprintln!("peer: accept: {e}"),
        }
    }
    Ok(())
}

pub fn client(a: &Args) -> Result<(), String> {
    let server = a.get("server").ok_or("net needs --server IP[:PORT]")?;
    let addr = if server.contains(':') {
        server.to_string()
    } else {
        format!("{server}:5001")
    };
    let mode = mode_of(a.get_or("mode", "stream"))?;
    let size = a.num("size", 1024)? as usize;
    let secs = a.num("secs", 5)?;
    let mut s = None;
    for _ in 0..50 {
        match TcpStream::connect(&addr) {
            Ok(c) => {
                s = Some(c);
                break;
            }
            Err(_) => std::thread::sleep(Duration::from_millis(200)),
        }
    }
    let mut s = s.ok_or(format!("cannot connect to {addr}"))?;
    // Never hang a whole benchmark on one lost connection.
    let limit = Some(Duration::from_secs(secs + 15));
    s.set_read_timeout(limit).map_err(|e| e.to_string())?;
    s.set_write_timeout(limit).map_err(|e| e.to_string())?;
    let mut h = [0u8; 16];
    h[0..4].copy_from_slice(&mode.to_le_bytes());
    h[4..8].copy_from_slice(&(size as u32).to_le_bytes());
    h[8..12].copy_from_slice(&(secs as u32).to_le_bytes());
    s.write_all(&h).map_err(|e| e.to_string())?;
    let mut buf = vec![0xa5u8; size.max(1)];
    let c0 = cpu_sample();
    let t0 = Instant::now();
    let end = t0 + Duration::from_secs(secs);
    let mut bytes = 0u64;
    let mut trans = 0u64;
    match mode {
        STREAM => {
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
        MAERTS => {
            let mut big = vec![0u8; 256 * 1024];
            loop {
                let r = s.read(&mut big).map_err(|e| e.to_string())?;
                if r == 0 {
                    break;
                }
                bytes += r as u64;
            }
        }
        _ => {
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
    let c1 = cpu_sample();
    let busy = (c1.0 - c0.0) as f64 / ((c1.1 - c0.1).max(1)) as f64;
    println!(
        "BENCH-RESULT kind=net mode={} size={size} secs={el:.3} bytes={bytes} mbps={:.3} tps={:.1} cpu={busy:.4}",
        a.get_or("mode", "stream"),
        bytes as f64 * 8.0 / el / 1e6,
        trans as f64 / el
    );
    Ok(())
}
