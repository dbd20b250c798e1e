//! Helpers shared by the suites: commands with deadlines, data patterns,
//! the kernel log, device nodes, the RAM size.

use crate::*;

/// Run a command with a deadline; returns (success, combined output).
pub(crate) fn run(cmd: &str, args: &[&str], timeout: Duration) -> (bool, String) {
    let child = Command::new(cmd)
        .args(args)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn();
    let mut child = match child {
        Ok(c) => c,
        Err(e) => return (false, format!("spawn {cmd}: {e}")),
    };
    let t0 = Instant::now();
    loop {
        match child.try_wait() {
            Ok(Some(st)) => {
                let mut out = String::new();
                if let Some(mut o) = child.stdout.take() {
                    let _ = o.read_to_string(&mut out);
                }
                if let Some(mut e) = child.stderr.take() {
                    let _ = e.read_to_string(&mut out);
                }
                return (st.success(), out.trim().to_string());
            }
            Ok(None) => {
                if t0.elapsed() > timeout {
                    let _ = child.kill();
                    let _ = child.wait();
                    return (
                        false,
                        format!("{cmd} timed out after {}s", timeout.as_secs()),
                    );
                }
                std::thread::sleep(Duration::from_millis(20));
            }
            Err(e) => return (false, format!("wait {cmd}: {e}")),
        }
    }
}

pub(crate) fn pattern(seed: u32, len: usize) -> Vec<u8> {
    let mut x: u32 = seed.wrapping_mul(0x9E37_79B1) ^ 0xA5A5_5A5A;
    (0..len)
        .map(|_| {
            x ^= x << 13;
            x ^= x >> 17;
            x ^= x << 5;
            (x >> 24) as u8
        })
        .collect()
}

/// Host-reproducible disk pattern: byte i of every 64 KiB period is
/// ((i * 2654435761 + seed) mod 2^32) >> 24.
pub(crate) fn disk_pattern(seed: u32, len: usize) -> Vec<u8> {
    (0..len)
        .map(|i| {
            (((i % 65536) as u32)
                .wrapping_mul(2_654_435_761)
                .wrapping_add(seed)
                >> 24) as u8
        })
        .collect()
}

pub(crate) fn fnv64(d: &[u8]) -> u64 {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for b in d {
        h ^= *b as u64;
        h = h.wrapping_mul(0x0000_0100_0000_01b3);
    }
    h
}

pub(crate) fn first_diff(a: &[u8], b: &[u8]) -> Option<usize> {
    a.iter()
        .zip(b.iter())
        .position(|(x, y)| x != y)
        .or(if a.len() != b.len() {
            Some(a.len().min(b.len()))
        } else {
            None
        })
}

/// The kernel log, one message per entry, without level or timestamp.
/// `/dev/kmsg` is readable from 3.5 on (one record per read); older kernels
/// have a write-only `/dev/kmsg` (or none without devtmpfs/mdev), so the
/// ring buffer is read with syslog(2) instead, and busybox `dmesg` is the
/// last resort.
pub(crate) fn kmsg_lines() -> Vec<String> {
    let recs = read_dev_kmsg();
    if !recs.is_empty() {
        return recs;
    }
    if let Some(s) = sys::klog_read_all() {
        return parse_klog(&s);
    }
    let (_, s) = run("dmesg", &[], Duration::from_secs(5));
    parse_klog(&s)
}

pub(crate) fn read_dev_kmsg() -> Vec<String> {
    let mut out = Vec::new();
    let mut f = match fs::OpenOptions::new()
        .read(true)
        .custom_flags_nb()
        .open("/dev/kmsg")
    {
        Ok(f) => f,
        Err(_) => return out,
    };
    let mut buf = vec![0u8; 8192];
    loop {
        match f.read(&mut buf) {
            Ok(0) => break,
            Ok(n) => {
                let rec = String::from_utf8_lossy(&buf[..n]).to_string();
                let msg = rec.split_once(';').map(|x| x.1).unwrap_or(&rec);
                out.push(msg.lines().next().unwrap_or("").to_string());
            }
            Err(e) if e.raw_os_error() == Some(32) => continue, // EPIPE: overwritten records
            Err(_) => break, // EAGAIN at the end; EINVAL on a write-only /dev/kmsg
        }
    }
    out
}

/// syslog(2) / dmesg text: strip `<level>` and `[ seconds]` prefixes.
pub(crate) fn parse_klog(s: &str) -> Vec<String> {
    s.lines()
        .map(|l| {
            let mut l = l;
            if l.starts_with('<') {
                if let Some(i) = l.find('>') {
                    if l[1..i].chars().all(|c| c.is_ascii_digit()) {
                        l = &l[i + 1..];
                    }
                }
            }
            if l.starts_with('[') {
                if let Some(i) = l.find(']') {
                    if l[1..i]
                        .trim()
                        .chars()
                        .all(|c| c.is_ascii_digit() || c == '.')
                    {
                        l = l[i + 1..].strip_prefix(' ').unwrap_or(&l[i + 1..]);
                    }
                }
            }
            l.to_string()
        })
        .filter(|l| !l.is_empty())
        .collect()
}

/// Make sure `/dev/<name>` exists: devtmpfs (2.6.32+) or mdev creates it;
/// otherwise create it from the `major:minor` in sysfs.
pub(crate) fn ensure_dev_node(name: &str, sysfs_dev: &str, block: bool) -> Result<String, String> {
    let path = format!("/dev/{name}");
    if std::path::Path::new(&path).exists() {
        return Ok(path);
    }
    let mm = fs::read_to_string(sysfs_dev).map_err(|e| format!("{sysfs_dev}: {e}"))?;
    let (ma, mi) = mm
        .trim()
        .split_once(':')
        .ok_or(format!("{sysfs_dev}: '{}' is not major:minor", mm.trim()))?;
    let ma: u32 = ma.parse().map_err(|_| format!("{sysfs_dev}: bad major"))?;
    let mi: u32 = mi.parse().map_err(|_| format!("{sysfs_dev}: bad minor"))?;
    sys::mknod(&path, block, ma, mi)?;
    Ok(path)
}

pub(crate) trait NbOpen {
    fn custom_flags_nb(&mut self) -> &mut Self;
}
impl NbOpen for fs::OpenOptions {
    fn custom_flags_nb(&mut self) -> &mut Self {
        use std::os::unix::fs::OpenOptionsExt;
        self.custom_flags(sys::O_NONBLOCK)
    }
}

/// End of RAM from `/proc/iomem` (calgary-devmem's reading of it), 512 MiB
/// when it shows none.
pub(crate) fn max_ram_phys() -> u64 {
    let s = fs::read_to_string("/proc/iomem").unwrap_or_default();
    devmem_premap::ram_end(&s).unwrap_or(512 << 20)
}

/// The DHCP server of interface `ifn`, from the lease busybox's udhcpc
/// script left in `/tmp/dhcp-<ifn>` (the TFTP server of the runner's
/// user-mode network).
pub(crate) fn dhcp_server(ifn: &str) -> Result<String, String> {
    let lease = fs::read_to_string(format!("/tmp/dhcp-{ifn}"))
        .map_err(|_| format!("{ifn} has no DHCP lease (net check failed?)"))?;
    lease
        .lines()
        .find_map(|l| l.strip_prefix("serverid="))
        .filter(|s| !s.is_empty())
        .map(str::to_string)
        .ok_or(format!("{ifn}: no DHCP server id"))
}
