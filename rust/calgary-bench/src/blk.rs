//! O_DIRECT sequential reads from a block device (guest side).

use crate::cpu;
use calgary_bench::cli::{next, number, text, unexpected};
use lexopt::{Arg, Parser};
use std::os::unix::fs::{FileExt, OpenOptionsExt};
use std::time::{Duration, Instant};

/// A zeroed heap buffer aligned to 4 KiB (O_DIRECT needs it).
struct Aligned {
    ptr: *mut u8,
    len: usize,
    layout: std::alloc::Layout,
}
impl Aligned {
    fn new(len: usize) -> Result<Aligned, String> {
        let layout = std::alloc::Layout::from_size_align(len.max(4096), 4096)
            .map_err(|e| format!("buffer of {len} bytes: {e}"))?;
        // SAFETY: the layout has a non-zero size.
        let ptr = unsafe { std::alloc::alloc_zeroed(layout) };
        if ptr.is_null() {
            return Err(format!("cannot allocate {len} bytes"));
        }
        Ok(Aligned { ptr, len, layout })
    }
    fn buf(&mut self) -> &mut [u8] {
        // SAFETY: `len` <= the allocation's size, zero-initialised.
        unsafe { std::slice::from_raw_parts_mut(self.ptr, self.len) }
    }
}
impl Drop for Aligned {
    fn drop(&mut self) {
        // SAFETY: allocated in `new` with this layout.
        unsafe { std::alloc::dealloc(self.ptr, self.layout) }
    }
}

fn dev_size(dev: &str) -> u64 {
    let name = dev.rsplit('/').next().unwrap_or(dev);
    std::fs::read_to_string(format!("/sys/class/block/{name}/size"))
        .ok()
        .and_then(|s| s.trim().parse::<u64>().ok())
        .map(|s| s * 512)
        .unwrap_or(1 << 30)
}

pub fn run(mut p: Parser) -> Result<(), String> {
    let mut dev = "/dev/nvme0n1".to_string();
    let (mut size, mut secs) = (512 * 1024, 5);
    while let Some(a) = next(&mut p)? {
        match a {
            Arg::Long("dev") => dev = text(&mut p)?,
            Arg::Long("size") => size = number(&mut p, "size")? as usize,
            Arg::Long("secs") => secs = number(&mut p, "secs")?,
            a => return Err(unexpected(a)),
        }
    }
    if size == 0 {
        return Err("--size must be > 0".into());
    }
    let f = std::fs::OpenOptions::new()
        .read(true)
        .custom_flags(libc::O_DIRECT)
        .open(&dev)
        .map_err(|e| format!("open {dev} O_DIRECT: {e}"))?;
    let span = (dev_size(&dev) / size as u64).max(1) * size as u64;
    let mut b = Aligned::new(size)?;
    let c0 = cpu::sample();
    let t0 = Instant::now();
    let end = t0 + Duration::from_secs(secs);
    let (mut off, mut bytes, mut ios) = (0u64, 0u64, 0u64);
    while Instant::now() < end {
        for _ in 0..8 {
            let n = f
                .read_at(b.buf(), off)
                .map_err(|e| format!("read {dev}@{off}: {e}"))?;
            bytes += n as u64;
            ios += 1;
            off += size as u64;
            if off >= span {
                off = 0;
            }
        }
    }
    let el = t0.elapsed().as_secs_f64();
    let busy = cpu::busy_between(c0, cpu::sample());
    println!(
        "BENCH-RESULT kind=blk mode=read size={size} secs={el:.3} bytes={bytes} mbps={:.3} tps={:.1} cpu={busy:.4}",
        bytes as f64 * 8.0 / el / 1e6,
        ios as f64 / el
    );
    Ok(())
}
