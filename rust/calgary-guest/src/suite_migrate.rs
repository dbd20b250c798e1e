//! The `migrate` suite: rounds of verified disk and network traffic through
//! the kernel's own Calgary driver while the runner live-migrates the
//! machine (hw-tests/guest/migrate_load.py).
//!
//! Every round writes a pattern (seeded by the round number) to a
//! virtio-blk disk with O_DIRECT and reads it back, and sends ICMP echo
//! requests with a patterned payload to slirp's host address on every NIC's
//! subnet (slirp reflects them itself: no state that a migration could
//! lose); each reply's payload must equal what was sent. A round prints
//! `CALGARY-ROUND begin seq=N` and `CALGARY-ROUND end seq=N ...` with its
//! result and checksums; the rounds go on until the runner writes
//! `calgary-stop` on the console (or `calgary.max_secs` pass).
//!
//! Parameters: `calgary.net=KIND@A.B.C,...` (KIND e1000 or virtio; the NIC
//! gets A.B.C.15/24 and pings A.B.C.2), `calgary.disk_mib=` (per round),
//! `calgary.disk_slots=` (round N writes slot N mod slots, 1 MiB in),
//! `calgary.max_secs=`.

use crate::*;
use std::os::unix::fs::FileExt;

/// The seed of round N's disk data (migrate_load.py computes the same
/// pattern to check the backing file): N times an odd constant moves the
/// high byte too, so that every round's pattern differs from the last.
pub(crate) const MIGRATE_SEED: u32 = 0x4D16_0000;
pub(crate) fn round_seed(round: u32) -> u32 {
    MIGRATE_SEED.wrapping_add(round.wrapping_mul(0x9E37_79B9))
}
const DISK_BASE: u64 = 1 << 20;
const PING_LEN: usize = 1400;
const PINGS_PER_NIC: u16 = 8;
const PING_TRIES: u32 = 20;

fn is_virtio_blk(d: &PciDev) -> bool {
    d.vendor == 0x1af4 && (d.device == 0x1042 || d.device == 0x1001)
}

/// `/dev/vdX` of a virtio-blk PCI function (its sysfs path holds the
/// PCI address).
fn virtio_block(dev: &PciDev) -> Option<String> {
    for e in fs::read_dir("/sys/block").ok()?.flatten() {
        let n = e.file_name().to_string_lossy().to_string();
        if n.starts_with("vd") && sys_path_has(&format!("/sys/block/{n}"), &dev.addr) {
            return ensure_dev_node(&n, &format!("/sys/block/{n}/dev"), true).ok();
        }
    }
    None
}

/// The ICMP checksum (RFC 1071).
pub(crate) fn inet_checksum(d: &[u8]) -> u16 {
    let mut sum: u32 = 0;
    for c in d.chunks(2) {
        let w = if c.len() == 2 {
            u16::from_be_bytes([c[0], c[1]])
        } else {
            u16::from_be_bytes([c[0], 0])
        };
        sum = sum.wrapping_add(w as u32);
    }
    while sum >> 16 != 0 {
        sum = (sum & 0xFFFF) + (sum >> 16);
    }
    !(sum as u16)
}

/// An ICMP echo request: type 8, code 0, checksum, id, sequence, payload.
pub(crate) fn echo_request(id: u16, seq: u16, payload: &[u8]) -> Vec<u8> {
    let mut p = vec![8u8, 0, 0, 0];
    p.extend_from_slice(&id.to_be_bytes());
    p.extend_from_slice(&seq.to_be_bytes());
    p.extend_from_slice(payload);
    let c = inet_checksum(&p);
    p[2..4].copy_from_slice(&c.to_be_bytes());
    p
}

/// An echo reply (type 0) in a raw IPv4 packet from `from`: (id, seq,
/// payload), or None for anything else.
pub(crate) fn parse_echo_reply(pkt: &[u8], from: [u8; 4]) -> Option<(u16, u16, &[u8])> {
    let ihl = ((*pkt.first()? & 0x0F) as usize) * 4;
    if pkt.len() < ihl + 8 || ihl < 20 || pkt[9] != 1 || pkt[12..16] != from {
        return None;
    }
    let icmp = &pkt[ihl..];
    // (no checksum test: a corrupted payload must reach the comparison
    // and count as an error, not vanish as a lost packet)
    if icmp[0] != 0 || icmp[1] != 0 {
        return None;
    }
    let id = u16::from_be_bytes([icmp[4], icmp[5]]);
    let seq = u16::from_be_bytes([icmp[6], icmp[7]]);
    Some((id, seq, &icmp[8..]))
}

/// A raw ICMP socket with a receive timeout.
struct IcmpSocket(libc::c_int);

impl IcmpSocket {
    fn open() -> Result<IcmpSocket, String> {
        // SAFETY: plain socket(2) call.
        let fd = unsafe { libc::socket(libc::AF_INET, libc::SOCK_RAW, libc::IPPROTO_ICMP) };
        if fd < 0 {
            return Err(format!(
                "raw ICMP socket: {}",
                std::io::Error::last_os_error()
            ));
        }
        let tv = libc::timeval {
            tv_sec: 0,
            tv_usec: 250_000,
        };
        // SAFETY: `tv` lives across the call and its size is passed.
        unsafe {
            libc::setsockopt(
                fd,
                libc::SOL_SOCKET,
                libc::SO_RCVTIMEO,
                (&tv as *const libc::timeval).cast(),
                std::mem::size_of::<libc::timeval>() as libc::socklen_t,
            )
        };
        Ok(IcmpSocket(fd))
    }
    fn send(&self, to: [u8; 4], pkt: &[u8]) -> Result<(), String> {
        // SAFETY: sockaddr_in is plain data; zeroed is a valid value.
        let mut sa: libc::sockaddr_in = unsafe { std::mem::zeroed() };
        sa.sin_family = libc::AF_INET as libc::sa_family_t;
        sa.sin_addr.s_addr = u32::from_ne_bytes(to);
        // SAFETY: `pkt` and `sa` live across the call, sizes passed.
        let n = unsafe {
            libc::sendto(
                self.0,
                pkt.as_ptr().cast(),
                pkt.len(),
                0,
                (&sa as *const libc::sockaddr_in).cast(),
                std::mem::size_of::<libc::sockaddr_in>() as libc::socklen_t,
            )
        };
        if n < 0 {
            return Err(format!("sendto: {}", std::io::Error::last_os_error()));
        }
        Ok(())
    }
    /// One packet, or None after the receive timeout.
    fn recv(&self, buf: &mut [u8]) -> Option<usize> {
        // SAFETY: the kernel writes at most `buf.len()` bytes into `buf`.
        let n = unsafe { libc::recv(self.0, buf.as_mut_ptr().cast(), buf.len(), 0) };
        if n <= 0 {
            None
        } else {
            Some(n as usize)
        }
    }
}

impl Drop for IcmpSocket {
    fn drop(&mut self) {
        // SAFETY: our own descriptor, closed once.
        unsafe { libc::close(self.0) };
    }
}

struct Nic {
    label: String,
    ifname: String,
    peer: [u8; 4],
}

/// `e1000@10.0.2,virtio@10.0.3` → (kind, first three octets).
pub(crate) fn parse_net(s: &str) -> Vec<(String, [u8; 3])> {
    s.split(',')
        .filter_map(|e| {
            let (kind, net) = e.split_once('@')?;
            let o: Vec<u8> = net.split('.').filter_map(|x| x.parse().ok()).collect();
            (o.len() == 3).then(|| (kind.to_string(), [o[0], o[1], o[2]]))
        })
        .collect()
}

fn setup_nics(r: &mut Report, cfg: &Config, devs: &[PciDev]) -> Vec<Nic> {
    let mut out = Vec::new();
    for (kind, net) in parse_net(cfg.get_or("net", "")) {
        let dev = devs.iter().find(|d| match kind.as_str() {
            "e1000" => d.is_e1000(),
            "virtio" => d.is_virtio_net(),
            _ => false,
        });
        let name = format!("migrate-nic-{kind}");
        let Some(dev) = dev else {
            r.fail(&name, &format!("no {kind} PCI function"));
            continue;
        };
        let ifn = match wait_device(dev, false, || netdev_for(dev)) {
            Ok(i) => i,
            Err(e) => {
                r.fail(&name, &format!("no network interface: {e}"));
                continue;
            }
        };
        let ip = format!("{}.{}.{}.15/24", net[0], net[1], net[2]);
        let (ok1, o1) = run(
            "ip",
            &["addr", "add", &ip, "dev", &ifn],
            Duration::from_secs(10),
        );
        let (ok2, o2) = run(
            "ip",
            &["link", "set", "dev", &ifn, "up"],
            Duration::from_secs(10),
        );
        if !(ok1 && ok2) {
            r.fail(&name, &format!("{ifn}: ip: {o1} {o2}"));
            continue;
        }
        r.pass(
            &name,
            &format!(
                "{ifn} ({}, driver {}) has {ip}, peer {}.{}.{}.2",
                dev.addr,
                bound_driver(dev).unwrap_or_default(),
                net[0],
                net[1],
                net[2]
            ),
        );
        out.push(Nic {
            label: kind,
            ifname: ifn,
            peer: [net[0], net[1], net[2], 2],
        });
    }
    out
}

/// One round's pings on one NIC: every reply's payload must equal the
/// request's. A request without reply is sent again (a packet in flight
/// at the switch may be lost); only a wrong payload or a NIC that stays
/// silent is an error. Returns (replies verified, requests lost).
fn ping_round(
    sock: &IcmpSocket,
    nic: &Nic,
    id: u16,
    round: u32,
    n: u16,
) -> Result<(u32, u32), String> {
    let mut lost = 0u32;
    let mut buf = vec![0u8; 4096];
    for i in 0..n {
        let seq = ((round as u16) << 4) | (i & 0xF);
        let payload = pattern(round.wrapping_mul(64).wrapping_add(i as u32), PING_LEN);
        let req = echo_request(id, seq, &payload);
        let mut got = false;
        for _ in 0..PING_TRIES {
            sock.send(nic.peer, &req)
                .map_err(|e| format!("{}: {e}", nic.ifname))?;
            let until = Instant::now() + Duration::from_millis(500);
            while Instant::now() < until {
                let Some(len) = sock.recv(&mut buf) else {
                    continue;
                };
                let Some((rid, rseq, data)) = parse_echo_reply(&buf[..len], nic.peer) else {
                    continue;
                };
                if rid != id || rseq != seq {
                    continue; // an earlier request's late reply
                }
                if let Some(at) = first_diff(data, &payload) {
                    return Err(format!(
                        "{} echo {seq}: reply payload differs at byte {at} of {PING_LEN}",
                        nic.ifname
                    ));
                }
                got = true;
                break;
            }
            if got {
                break;
            }
            lost += 1;
        }
        if !got {
            return Err(format!(
                "{} echo {seq}: no reply from {:?} after {PING_TRIES} tries",
                nic.ifname, nic.peer
            ));
        }
    }
    Ok((n as u32, lost))
}

fn disk_round(path: &str, round: u32, len: usize, slots: u64) -> Result<u64, String> {
    let off = DISK_BASE + (round as u64 % slots) * len as u64;
    let data = disk_pattern(round_seed(round), len);
    let mut wbuf = sys::AlignedBuf::new(len).ok_or("allocation failed")?;
    wbuf.as_mut_slice()[..len].copy_from_slice(&data);
    let f = sys::open_direct(path, true)?;
    f.write_all_at(&wbuf.as_slice()[..len], off)
        .map_err(|e| format!("O_DIRECT write at {off:#x}: {e}"))?;
    f.sync_data().map_err(|e| format!("fdatasync: {e}"))?;
    let mut rbuf = sys::AlignedBuf::new(len).ok_or("allocation failed")?;
    f.read_exact_at(&mut rbuf.as_mut_slice()[..len], off)
        .map_err(|e| format!("O_DIRECT read at {off:#x}: {e}"))?;
    if let Some(i) = first_diff(&rbuf.as_slice()[..len], &data) {
        return Err(format!(
            "read-back at {off:#x} differs at byte {i} of {len}"
        ));
    }
    Ok(fnv64(&data))
}

pub(crate) fn suite_migrate(r: &mut Report, cfg: &Config) {
    let devs = pci::list();
    load_modules(r);
    for l in kmsg_lines()
        .iter()
        .filter(|l| l.contains("Calgary") || l.contains("CalIOC2") || l.contains("PCI-DMA"))
    {
        info(&format!("dmesg: {l}"));
    }
    let disk = match devs.iter().find(|d| is_virtio_blk(d)) {
        None => {
            r.fail("migrate-disk", "no virtio-blk PCI function");
            None
        }
        Some(d) => match wait_device(d, false, || virtio_block(d)) {
            Ok(p) => {
                r.pass(
                    "migrate-disk",
                    &format!(
                        "{p} on {} (driver {})",
                        d.addr,
                        bound_driver(d).unwrap_or_default()
                    ),
                );
                Some(p)
            }
            Err(e) => {
                r.fail(
                    "migrate-disk",
                    &format!("{e} (a kernel without CONFIG_VIRTIO_BLK=y needs virtio_blk.ko in the initramfs: CALGARY_GUEST_MODULES)"),
                );
                None
            }
        },
    };
    let nics = setup_nics(r, cfg, &devs);
    let sock = match IcmpSocket::open() {
        Ok(s) => Some(s),
        Err(e) => {
            r.fail("migrate-icmp", &e);
            None
        }
    };
    let (Some(disk), Some(sock), false) = (disk, sock, nics.is_empty()) else {
        r.fail("migrate-rounds", "no disk or no NIC to run rounds on");
        return;
    };
    let len = cfg
        .get("disk_mib")
        .and_then(parse_num)
        .unwrap_or(1)
        .clamp(1, 16) as usize
        * (1 << 20);
    let slots = cfg
        .get("disk_slots")
        .and_then(parse_num)
        .unwrap_or(32)
        .max(1);
    let max = Duration::from_secs(cfg.get("max_secs").and_then(parse_num).unwrap_or(900));
    let id = (std::process::id() & 0xFFFF) as u16;
    let t0 = Instant::now();
    let (mut rounds, mut errors, mut pings, mut lost) = (0u32, 0u32, 0u32, 0u32);
    let mut first_err = String::new();
    let mut stopped = false;
    while t0.elapsed() < max {
        if console_says(cfg, "calgary-stop") {
            stopped = true;
            break;
        }
        let seq = rounds;
        println!("CALGARY-ROUND begin seq={seq}");
        let _ = std::io::stdout().flush();
        let rt = Instant::now();
        let d = disk_round(&disk, seq, len, slots);
        let mut net = Vec::new();
        let mut net_err = String::new();
        for nic in &nics {
            match ping_round(&sock, nic, id, seq, PINGS_PER_NIC) {
                Ok((ok, l)) => {
                    pings += ok;
                    lost += l;
                    net.push(format!("{}:{ok}/{l}", nic.label));
                }
                Err(e) => {
                    net_err = e;
                    break;
                }
            }
        }
        let disk_s = match &d {
            Ok(h) => format!("ok fnv={h:016x}"),
            Err(e) => format!("FAIL({e})"),
        };
        let net_s = if net_err.is_empty() {
            format!("ok {}", net.join(","))
        } else {
            format!("FAIL({net_err})")
        };
        if d.is_err() || !net_err.is_empty() {
            errors += 1;
            if first_err.is_empty() {
                first_err = format!("round {seq}: disk {disk_s}, net {net_s}");
            }
        }
        println!(
            "CALGARY-ROUND end seq={seq} disk={disk_s} net={net_s} secs={:.2}",
            rt.elapsed().as_secs_f64()
        );
        let _ = std::io::stdout().flush();
        rounds += 1;
    }
    let summary = format!(
        "{rounds} rounds in {:.0}s ({} MiB per round on {disk}, {pings} echo payloads verified on {}, {lost} requests resent){}",
        t0.elapsed().as_secs_f64(),
        len >> 20,
        nics.iter()
            .map(|n| n.ifname.as_str())
            .collect::<Vec<_>>()
            .join("+"),
        if stopped { "" } else { "; no calgary-stop from the runner" }
    );
    if errors == 0 && rounds > 0 && stopped {
        r.pass("migrate-rounds", &summary);
    } else {
        r.fail(
            "migrate-rounds",
            &format!("{errors} rounds with errors, first: {first_err}; {summary}"),
        );
    }
    let dma_errs: Vec<String> = kmsg_lines()
        .into_iter()
        .filter(|l| {
            l.contains("DMA error")
                || l.contains("error on Calgary")
                || l.contains("error on CalIOC2")
        })
        .collect();
    if dma_errs.is_empty() {
        r.pass(
            "migrate-kernel-log",
            "no Calgary DMA error in the kernel log",
        );
    } else {
        r.fail("migrate-kernel-log", &dma_errs.join(" | "));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn echo_request_checksums_to_zero() {
        let p = echo_request(0x1234, 7, &pattern(3, 1400));
        assert_eq!(inet_checksum(&p), 0);
        assert_eq!(&p[4..8], &[0x12, 0x34, 0, 7]);
        // odd payload length
        assert_eq!(inet_checksum(&echo_request(1, 2, b"abc")), 0);
    }

    #[test]
    fn echo_reply_parsed_from_its_peer_only() {
        let payload = pattern(9, 64);
        let mut icmp = echo_request(0x42, 0x99, &payload);
        icmp[0] = 0; // reply
        icmp[2] = 0;
        icmp[3] = 0;
        let c = inet_checksum(&icmp);
        icmp[2..4].copy_from_slice(&c.to_be_bytes());
        let mut ip = vec![
            0x45u8, 0, 0, 0, 0, 0, 0, 0, 64, 1, 0, 0, 10, 0, 2, 2, 10, 0, 2, 15,
        ];
        ip.extend_from_slice(&icmp);
        let (id, seq, data) = parse_echo_reply(&ip, [10, 0, 2, 2]).expect("a reply");
        assert_eq!((id, seq), (0x42, 0x99));
        assert_eq!(data, &payload[..]);
        assert!(parse_echo_reply(&ip, [10, 0, 3, 2]).is_none());
        let mut bad = ip.clone();
        bad[30] ^= 1; // corrupted payload: still parsed, so that it is compared
        let (_, _, data) = parse_echo_reply(&bad, [10, 0, 2, 2]).expect("a reply");
        assert_eq!(first_diff(data, &payload), Some(2));
        assert!(parse_echo_reply(&ip[..24], [10, 0, 2, 2]).is_none());
    }

    #[test]
    fn consecutive_rounds_write_different_data() {
        let a = disk_pattern(round_seed(0), 4096);
        for n in 1..64 {
            assert_ne!(a, disk_pattern(round_seed(n), 4096), "round {n}");
        }
        // migrate_load.py: (0x4D160000 + n * 0x9E3779B9) mod 2^32
        assert_eq!(
            round_seed(3),
            0x4D16_0000u32.wrapping_add(3u32.wrapping_mul(0x9E37_79B9))
        );
    }

    #[test]
    fn net_parameter() {
        assert_eq!(
            parse_net("e1000@10.0.2,virtio@10.0.3"),
            vec![
                ("e1000".to_string(), [10, 0, 2]),
                ("virtio".to_string(), [10, 0, 3])
            ]
        );
        assert!(parse_net("e1000@10.0").is_empty());
        assert!(parse_net("").is_empty());
    }
}
