//! O_DIRECT sequential reads from a block device (guest side).

use crate::measure::{self, Work};
use calgary_bench::cli::{float, next, number, text, unexpected};
use lexopt::{Arg, Parser};
use std::fs::File;
use std::os::unix::fs::{FileExt, OpenOptionsExt};
use std::time::Instant;

/// Where the read buffer lives.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum BufKind {
    /// The heap, 4 KiB aligned: its pages are wherever the guest kernel
    /// put them, so the nvme driver describes each 4 KiB with its own PRP
    /// entry and QEMU maps (and translates) page by page.
    Heap,
    /// One 2 MiB huge page (MAP_HUGETLB; boot with `hugepages=N`):
    /// physically contiguous, so one request is one segment (an SGL data
    /// block when the driver and controller use SGLs).
    Huge,
}

/// A zeroed buffer of `len` bytes, 4 KiB aligned (O_DIRECT needs it).
struct Buffer {
    ptr: *mut u8,
    len: usize,
    kind: BufKind,
    /// The allocation's layout (huge: the mapping is `huge_len` of it).
    layout: std::alloc::Layout,
}

const HUGE_PAGE: usize = 2 << 20;

/// The huge-page mapping that holds `layout`: whole 2 MiB pages.
fn huge_len(layout: std::alloc::Layout) -> usize {
    layout.size().div_ceil(HUGE_PAGE) * HUGE_PAGE
}

impl Buffer {
    fn new(len: usize, kind: BufKind) -> Result<Buffer, String> {
        let layout = std::alloc::Layout::from_size_align(len.max(4096), 4096)
            .map_err(|e| format!("buffer of {len} bytes: {e}"))?;
        let ptr = match kind {
            // SAFETY: the layout has a non-zero size.
            BufKind::Heap => unsafe { std::alloc::alloc_zeroed(layout) },
            BufKind::Huge => {
                let map_len = huge_len(layout);
                // SAFETY: an anonymous private mapping; no pointer is passed in.
                let p = unsafe {
                    libc::mmap(
                        std::ptr::null_mut(),
                        map_len,
                        libc::PROT_READ | libc::PROT_WRITE,
                        libc::MAP_PRIVATE
                            | libc::MAP_ANONYMOUS
                            | libc::MAP_HUGETLB
                            | libc::MAP_POPULATE,
                        -1,
                        0,
                    )
                };
                if p == libc::MAP_FAILED {
                    return Err(format!(
                        "huge-page buffer of {len} bytes: mmap MAP_HUGETLB: {} (boot the guest with hugepages=N)",
                        std::io::Error::last_os_error()
                    ));
                }
                p.cast::<u8>()
            }
        };
        if ptr.is_null() {
            return Err(format!("cannot allocate {len} bytes"));
        }
        Ok(Buffer {
            ptr,
            len,
            kind,
            layout,
        })
    }
    fn buf(&mut self) -> &mut [u8] {
        // SAFETY: `len` <= the allocation's size, zero-initialised.
        unsafe { std::slice::from_raw_parts_mut(self.ptr, self.len) }
    }
    /// Physically contiguous runs of the buffer's pages, from
    /// /proc/self/pagemap (None when it gives no frame numbers: not root).
    fn segments(&mut self) -> Option<usize> {
        let pages = self.len.div_ceil(4096);
        // Touch every page so that it has a frame.
        for i in 0..pages {
            if let Some(b) = self.buf().get_mut(i * 4096) {
                // SAFETY: a valid byte of the buffer; volatile so it stays.
                unsafe { std::ptr::write_volatile(b, 0) };
            }
        }
        let f = File::open("/proc/self/pagemap").ok()?;
        let mut raw = vec![0u8; pages * 8];
        f.read_exact_at(&mut raw, (self.ptr as u64 / 4096) * 8)
            .ok()?;
        let pfns: Vec<u64> = raw
            .chunks_exact(8)
            .map(|c| u64::from_le_bytes(c.try_into().unwrap_or([0; 8])))
            .map(|e| if e >> 63 == 1 { e & ((1 << 55) - 1) } else { 0 })
            .collect();
        if pfns.contains(&0) {
            return None;
        }
        Some(count_runs(&pfns))
    }
}
impl Drop for Buffer {
    fn drop(&mut self) {
        match self.kind {
            // SAFETY: allocated in `new` with this layout.
            BufKind::Heap => unsafe { std::alloc::dealloc(self.ptr, self.layout) },
            BufKind::Huge => {
                // SAFETY: mapped in `new` with this length.
                unsafe { libc::munmap(self.ptr.cast(), huge_len(self.layout)) };
            }
        }
    }
}

/// Runs of consecutive frame numbers.
fn count_runs(pfns: &[u64]) -> usize {
    let breaks = pfns
        .windows(2)
        .filter(|w| w[1] != w[0].wrapping_add(1))
        .count();
    if pfns.is_empty() {
        0
    } else {
        breaks + 1
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
    kind: BufKind,
    span: u64,
    off0: u64,
    end: Instant,
) -> Result<Work, String> {
    let mut b = Buffer::new(size, kind)?;
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
    let mut kind = BufKind::Heap;
    while let Some(a) = next(&mut p)? {
        match a {
            Arg::Long("dev") => dev = text(&mut p)?,
            Arg::Long("size") => size = number(&mut p, "size")? as usize,
            Arg::Long("secs") => secs = float(&mut p, "secs")?,
            Arg::Long("warmup") => warmup = float(&mut p, "warmup")?,
            Arg::Long("threads") => threads = number(&mut p, "threads")? as usize,
            Arg::Long("buffer") => {
                kind = match text(&mut p)?.as_str() {
                    "heap" => BufKind::Heap,
                    "huge" => BufKind::Huge,
                    other => return Err(format!("--buffer {other}: heap or huge")),
                }
            }
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
    // What the buffers look like physically: one of the same kind, checked
    // before the windows (the check reads /proc/self/pagemap).
    let segments = Buffer::new(size, kind)?
        .segments()
        .map_or("unknown".to_string(), |n| n.to_string());
    let go = |i, f: File, end| read_until(&f, &dev, size, kind, span, stretch(i), end);
    if warmup > 0.0 {
        measure::window(threads, warmup, false, open, go)?;
    }
    let w = measure::window(threads, secs, true, open, go)?;
    let buffer = match kind {
        BufKind::Heap => "heap",
        BufKind::Huge => "huge",
    };
    println!(
        "{} buffer={buffer} segments={segments}",
        measure::report("blk", "read", size, threads, &w)
    );
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn runs_of_frames() {
        assert_eq!(count_runs(&[]), 0);
        assert_eq!(count_runs(&[7]), 1);
        assert_eq!(count_runs(&[7, 8, 9, 10]), 1);
        assert_eq!(count_runs(&[7, 8, 20, 21, 5]), 3);
    }

    #[test]
    fn heap_buffer_is_zeroed_and_sized() {
        let mut b = Buffer::new(10_000, BufKind::Heap).expect("heap buffer");
        assert_eq!(b.buf().len(), 10_000);
        assert!(b.buf().iter().all(|&x| x == 0));
        assert_eq!(b.buf().as_ptr() as usize % 4096, 0);
    }
}
