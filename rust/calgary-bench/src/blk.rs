//! O_DIRECT sequential reads from a block device (guest side).

use crate::net::cpu_sample;
use crate::Args;
use std::os::unix::fs::{FileExt, OpenOptionsExt};
use std::time::{Duration, Instant};

struct Aligned {
    ptr: *mut u8,
    len: usize,
}
impl Aligned {
    fn new(len: usize) -> Aligned {
        let layout = std::alloc::Layout::from_size_align(len.max(4096), 4096).expect("layout");
        let ptr = unsafe { std::alloc::alloc_zeroed(layout) };
        assert!(!ptr.is_null());
        Aligned { ptr, len }
    }
    fn buf(&mut self) -> &mut [u8] {
        unsafe { std::slice::from_raw_parts_mut(self.ptr, self.len) }
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

pub fn run(a: &Args) -> Result<(), String> {
    let dev = a.get_or("dev", "/dev/nvme0n1").to_string();
    let size = a.num("size", 512 * 1024)? as usize;
    let secs = a.num("secs", 5)?;
    let f = std::fs::OpenOptions::new()
        .read(true)
        .custom_flags(libc::O_DIRECT)
        .open(&dev)
        .map_err(|e| format!("open {dev} O_DIRECT: {e}"))?;
    let span = (dev_size(&dev) / size as u64).max(1) * size as u64;
    let mut b = Aligned::new(size);
    let c0 = cpu_sample();
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
    let c1 = cpu_sample();
    let busy = (c1.0 - c0.0) as f64 / ((c1.1 - c0.1).max(1)) as f64;
    println!(
        "BENCH-RESULT kind=blk mode=read size={size} secs={el:.3} bytes={bytes} mbps={:.3} tps={:.1} cpu={busy:.4}",
        bytes as f64 * 8.0 / el / 1e6,
        ios as f64 / el
    );
    Ok(())
}
