//! The network peer of the benchmark (host side, inside the network
//! namespace behind the tap devices): answers `calgary-bench net`.
//! Protocol: `calgary_bench::proto`.

use calgary_bench::cli::{next, number, unexpected};
use calgary_bench::proto::{Header, Mode, PORT};
use lexopt::{Arg, Parser};
use std::io::{Read, Write};
use std::net::{Shutdown, TcpListener, TcpStream};
use std::time::{Duration, Instant};

/// Longest run a client may ask for; a longer one is refused.
const MAX_SECS: u32 = 3600;
/// Largest message a client may ask for.
const MAX_SIZE: u32 = 64 << 20;

fn serve(mut s: TcpStream) -> std::io::Result<()> {
    let mut h = [0u8; Header::LEN];
    s.read_exact(&mut h)?;
    let Some(h) = Header::decode(&h) else {
        return Ok(()); // not ours: drop the connection
    };
    if h.secs > MAX_SECS || h.size > MAX_SIZE {
        return Ok(());
    }
    let mut buf = vec![0x5au8; (h.size as usize).max(1)];
    match h.mode {
        Mode::Stream => {
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
        Mode::Maerts => {
            let end = Instant::now() + Duration::from_secs(u64::from(h.secs));
            while Instant::now() < end {
                if s.write_all(&buf).is_err() {
                    break;
                }
            }
            let _ = s.shutdown(Shutdown::Write);
        }
        Mode::Rr => {
            s.set_nodelay(true)?;
            while s.read_exact(&mut buf).is_ok() {
                s.write_all(&buf)?;
            }
        }
    }
    Ok(())
}

pub fn run(mut p: Parser) -> Result<(), String> {
    let mut port = PORT;
    while let Some(a) = next(&mut p)? {
        match a {
            Arg::Long("port") => {
                port = u16::try_from(number(&mut p, "port")?).map_err(|_| "--port: out of range")?
            }
            a => return Err(unexpected(a)),
        }
    }
    let l = TcpListener::bind(("0.0.0.0", port)).map_err(|e| format!("bind :{port}: {e}"))?;
    eprintln!("calgary-bench-host peer listening on :{port}");
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

#[cfg(test)]
mod tests {
    use super::*;

    /// The peer against a client speaking the protocol, on loopback.
    #[test]
    fn stream_and_rr_on_loopback() {
        let l = TcpListener::bind(("127.0.0.1", 0)).expect("bind");
        let addr = l.local_addr().expect("addr");
        let t = std::thread::spawn(move || {
            for _ in 0..2 {
                let (s, _) = l.accept().expect("accept");
                serve(s).expect("serve");
            }
        });
        // stream: the peer reports the byte count it received
        let mut c = TcpStream::connect(addr).expect("connect");
        let h = Header {
            mode: Mode::Stream,
            size: 1000,
            secs: 1,
        };
        c.write_all(&h.encode()).expect("header");
        for _ in 0..7 {
            c.write_all(&[1u8; 1000]).expect("data");
        }
        c.shutdown(Shutdown::Write).expect("shutdown");
        let mut n = [0u8; 8];
        c.read_exact(&mut n).expect("count");
        assert_eq!(u64::from_le_bytes(n), 7000);
        // rr: the peer echoes each request
        let mut c = TcpStream::connect(addr).expect("connect");
        let h = Header {
            mode: Mode::Rr,
            size: 64,
            secs: 1,
        };
        c.write_all(&h.encode()).expect("header");
        let req: Vec<u8> = (0..64).collect();
        let mut resp = [0u8; 64];
        for _ in 0..3 {
            c.write_all(&req).expect("request");
            c.read_exact(&mut resp).expect("response");
            assert_eq!(&resp[..], &req[..]);
        }
        drop(c);
        t.join().expect("peer thread");
    }
}
