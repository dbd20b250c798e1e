//! Guest side: pre-map everything (identity TCE table) on the Calgary PHBs
//! that carry devices, and switch translation on — "pre-mapping the whole
//! guest" from The Price of Safety. Run before the drivers load.
//!
//! Uses /dev/mem (boot with `iomem=relaxed` and the reserved region
//! `memmap=64M$0x10000000`, as the test guest does). Register offsets come
//! from calgary-core's `regs` (the window is big-endian).

use crate::{parse_num, Args};
use calgary_core::regs;

struct Map {
    ptr: *mut u8,
    len: usize,
}

impl Map {
    fn new(phys: u64, len: usize) -> Result<Map, String> {
        let path = c"/dev/mem";
        let fd = unsafe { libc::open(path.as_ptr(), libc::O_RDWR | libc::O_SYNC) };
        if fd < 0 {
            return Err(format!(
                "open /dev/mem: {}",
                std::io::Error::last_os_error()
            ));
        }
        let p = unsafe {
            libc::mmap(
                std::ptr::null_mut(),
                len,
                libc::PROT_READ | libc::PROT_WRITE,
                libc::MAP_SHARED,
                fd,
                phys as libc::off_t,
            )
        };
        unsafe { libc::close(fd) };
        if p == libc::MAP_FAILED {
            return Err(format!(
                "mmap /dev/mem @{phys:#x}+{len:#x}: {}",
                std::io::Error::last_os_error()
            ));
        }
        Ok(Map {
            ptr: p as *mut u8,
            len,
        })
    }
    fn r32(&self, off: u64) -> u32 {
        assert!((off as usize) + 4 <= self.len);
        u32::from_be(unsafe { std::ptr::read_volatile(self.ptr.add(off as usize) as *const u32) })
    }
    fn w32(&self, off: u64, v: u32) {
        assert!((off as usize) + 4 <= self.len);
        unsafe { std::ptr::write_volatile(self.ptr.add(off as usize) as *mut u32, v.to_be()) }
    }
    /// 64-bit big-endian register as two halves (lower offset = high bits).
    fn w64(&self, off: u64, v: u64) {
        self.w32(off, (v >> 32) as u32);
        self.w32(off + 4, v as u32);
    }
    fn r64(&self, off: u64) -> u64 {
        ((self.r32(off) as u64) << 32) | self.r32(off + 4) as u64
    }
    fn wr_tce(&self, i: usize, v: u64) {
        assert!(i * 8 + 8 <= self.len);
        unsafe { std::ptr::write_volatile(self.ptr.add(i * 8) as *mut u64, v.to_be()) }
    }
}

fn max_ram() -> u64 {
    let s = std::fs::read_to_string("/proc/iomem").unwrap_or_default();
    let mut max = 0;
    for l in s
        .lines()
        .filter(|l| !l.starts_with(' ') && l.contains("System RAM"))
    {
        if let Some(end) = l.split(':').next().and_then(|r| r.trim().split('-').nth(1)) {
            max = max.max(u64::from_str_radix(end.trim(), 16).unwrap_or(0) + 1);
        }
    }
    if max == 0 {
        1 << 32
    } else {
        max
    }
}

/// Buses that have a device besides the PHB function (devfn 0).
fn populated(bus: u32) -> bool {
    std::fs::read_dir("/sys/bus/pci/devices")
        .map(|d| {
            d.filter_map(|e| e.ok()).any(|e| {
                let n = e.file_name().to_string_lossy().to_string();
                n.starts_with(&format!("0000:{bus:02x}:")) && !n.ends_with(":00.0")
            })
        })
        .unwrap_or(false)
}

pub fn run(a: &Args) -> Result<(), String> {
    let bbar = a.num("bbar", 0xfef0_0000)?;
    let (mem_base, mem_len) = match a.get("mem") {
        Some(s) => {
            let (b, l) = s.split_once(':').ok_or("--mem ADDR:SIZE")?;
            (
                parse_num(b).ok_or("bad --mem")?,
                parse_num(l).ok_or("bad --mem")?,
            )
        }
        None => (0x1000_0000, 0x400_0000),
    };
    let ram = max_ram();
    let pages = ram.div_ceil(4096);
    let mut s = 0u64;
    while (8192u64 << s) < pages && s < 7 {
        s += 1;
    }
    let entries = 8192usize << s;
    if (entries * 8) as u64 > mem_len {
        return Err(format!(
            "identity table of {entries} entries does not fit in {mem_len:#x} bytes"
        ));
    }
    let tbl = Map::new(mem_base, entries * 8)?;
    for i in 0..entries {
        tbl.wr_tce(i, ((i as u64) << 12) | 3);
    }
    let win = Map::new(bbar, 1 << 20)?;
    let mut done = Vec::new();
    for p in 0..4usize {
        let bus = 0x20 + 4 * p as u32;
        let want = match a.get("phbs") {
            Some(list) => list.split(',').any(|x| x.trim() == p.to_string()),
            None => populated(bus),
        };
        if !want {
            continue;
        }
        let old = win.r64(regs::tar(p));
        let tar = (old & !0x0000_FFFF_FFFF_800F) | (mem_base & 0x0000_FFFF_FFFF_8000) | s;
        win.w64(regs::tar(p), tar);
        let cfg_off = regs::phb_reg(p, regs::PHB_CONFIG_RW_OFFSET);
        win.w32(regs::phb_reg(p, regs::PHB_CSR_OFFSET), 0);
        let cfg = win.r32(cfg_off);
        win.w32(cfg_off, cfg | regs::PHB_TCE_ENABLE);
        let now = win.r32(cfg_off);
        done.push(format!(
            "phb{p}(bus {bus:#x}, TAR {tar:#x}, config {now:#010x})"
        ));
        if now & regs::PHB_TCE_ENABLE == 0 {
            return Err(format!(
                "PHB {p}: translation did not switch on (config {now:#x})"
            ));
        }
    }
    println!("BENCH-PREMAP identity table {entries} entries at {mem_base:#x} (RAM to {ram:#x}); translation on: {}", done.join(" "));
    Ok(())
}
