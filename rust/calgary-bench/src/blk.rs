//! O_DIRECT sequential reads from a block device (guest side).

use crate::measure::{self, Work};
use calgary_bench::cli::{float, next, number, text, unexpected};
use lexopt::{Arg, Parser};
use std::fs::File;
use std::os::unix::fs::{FileExt, OpenOptionsExt};
use std::time::Instant;

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

/// Sequential O_DIRECT reads of `size` from `off0` onwards (wrapping inside `span`) until `end`.
fn read_until(
    f: &File,
    dev: &str,
    size: usize,
    span: u64,
    off0: u64,
    end: Instant,
) -> Result<Work, String> {
    let mut b = Aligned::new(size)?;
    let (mut off, mut w) = (off0, Work::default());
    while Instant::now() < end {
        for _ in 0..8 {
            let n = f
                .read_at(b.buf(), off)
                .map_err(|e| format!("read {dev}@{off}: {e}"))?;
            w.bytes += n as u64;
            w.ops += 1;
            off += size as u64;
            if off >= span {
                off = 0;
            }
        }
    }
    Ok(w)
}

pub fn run(mut p: Parser) -> Result<(), String> {
    let mut dev = "/dev/nvme0n1".to_string();
    let (mut size, mut secs, mut warmup, mut threads) = (512 * 1024, 5.0, 0.0, 1usize);
    while let Some(a) = next(&mut p)? {
        match a {
            Arg::Long("dev") => dev = text(&mut p)?,
            Arg::Long("size") => size = number(&mut p, "size")? as usize,
            Arg::Long("secs") => secs = float(&mut p, "secs")?,
            Arg::Long("warmup") => warmup = float(&mut p, "warmup")?,
            Arg::Long("threads") => threads = number(&mut p, "threads")? as usize,
            a => return Err(unexpected(a)),
        }
    }
    if size == 0 {
        return Err("--size must be > 0".into());
    }
    if threads == 0 || threads > 64 {
        return Err("--threads must be 1..64".into());
    }
    if !(secs.is_finite() && secs >= 0.0 && warmup.is_finite() && warmup >= 0.0) {
        return Err("--secs / --warmup must be >= 0".into());
    }
    let span = (dev_size(&dev) / size as u64).max(1) * size as u64;
    // Each thread reads its own stretch of the device (its own nvme queue
    // when the threads run on different vCPUs).
    let stretch = |i: usize| (span / threads as u64 / size as u64) * size as u64 * i as u64;
    let open = |_| {
        std::fs::OpenOptions::new()
            .read(true)
            .custom_flags(libc::O_DIRECT)
            .open(&dev)
            .map_err(|e| format!("open {dev} O_DIRECT: {e}"))
    };
    let go = |i, f: File, end| read_until(&f, &dev, size, span, stretch(i), end);
    if warmup > 0.0 {
        measure::window(threads, warmup, false, open, go)?;
    }
    let w = measure::window(threads, secs, true, open, go)?;
    println!("{}", measure::report("blk", "read", size, threads, &w));
    Ok(())
}
