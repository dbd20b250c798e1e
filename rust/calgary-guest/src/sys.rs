//! Minimal raw-syscall layer (x86_64 Linux only) so that the tool needs
//! nothing but `std`: mmap/munmap of `/dev/mem` and sysfs resources, and a
//! page-aligned buffer for O_DIRECT I/O.

use std::fs::{File, OpenOptions};
use std::os::unix::fs::OpenOptionsExt;
use std::os::unix::io::AsRawFd;

pub const O_SYNC: i32 = 0o4010000;
pub const O_DIRECT: i32 = 0o40000;
pub const O_NONBLOCK: i32 = 0o4000;

const SYS_MMAP: usize = 9;
const SYS_MUNMAP: usize = 11;
const SYS_SYSLOG: usize = 103;
const SYS_MKNOD: usize = 133;
const SYSLOG_ACTION_READ_ALL: usize = 3;
const SYSLOG_ACTION_SIZE_BUFFER: usize = 10;
const S_IFCHR: usize = 0o020000;
const S_IFBLK: usize = 0o060000;
const PROT_READ: usize = 1;
const PROT_WRITE: usize = 2;
const MAP_SHARED: usize = 1;

#[cfg(target_arch = "x86_64")]
unsafe fn syscall6(
    n: usize,
    a1: usize,
    a2: usize,
    a3: usize,
    a4: usize,
    a5: usize,
    a6: usize,
) -> isize {
    let ret: isize;
    std::arch::asm!(
        "syscall",
        inlateout("rax") n as isize => ret,
        in("rdi") a1, in("rsi") a2, in("rdx") a3,
        in("r10") a4, in("r8") a5, in("r9") a6,
        lateout("rcx") _, lateout("r11") _,
        options(nostack)
    );
    ret
}

/// The kernel log ring buffer through syslog(2) (`klogctl`), which every
/// kernel has; `/dev/kmsg` is readable only from 3.5 on.
pub fn klog_read_all() -> Option<String> {
    let size = unsafe { syscall6(SYS_SYSLOG, SYSLOG_ACTION_SIZE_BUFFER, 0, 0, 0, 0, 0) };
    // Kernels before 2.6.29 do not know SIZE_BUFFER: assume a generous size.
    let size = if size > 0 { size as usize } else { 1 << 20 };
    let mut buf = vec![0u8; size.min(16 << 20)];
    let n = unsafe {
        syscall6(
            SYS_SYSLOG,
            SYSLOG_ACTION_READ_ALL,
            buf.as_mut_ptr() as usize,
            buf.len(),
            0,
            0,
            0,
        )
    };
    if n < 0 {
        return None;
    }
    buf.truncate(n as usize);
    Some(String::from_utf8_lossy(&buf).into_owned())
}

/// Create a device node (for kernels without devtmpfs, before 2.6.32).
pub fn mknod(path: &str, block: bool, major: u32, minor: u32) -> Result<(), String> {
    let c = std::ffi::CString::new(path).map_err(|e| e.to_string())?;
    let kind = if block { S_IFBLK } else { S_IFCHR };
    // new_encode_dev: minor low byte, major, then the minor's upper bits.
    let dev = (minor & 0xff) | (major << 8) | ((minor & !0xff) << 12);
    let r = unsafe {
        syscall6(
            SYS_MKNOD,
            c.as_ptr() as usize,
            kind | 0o600,
            dev as usize,
            0,
            0,
            0,
        )
    };
    if r < 0 {
        return Err(format!(
            "mknod {path}: {}",
            std::io::Error::from_raw_os_error((-r) as i32)
        ));
    }
    Ok(())
}

/// A shared mapping of (part of) a file: `/dev/mem` or a sysfs `resourceN`.
pub struct Mapping {
    ptr: *mut u8,
    len: usize,
    /// Physical (or file) offset of byte 0 of the mapping.
    pub base: u64,
    _file: File,
}

#[allow(dead_code)]
impl Mapping {
    /// Map `len` bytes of `path` at file offset `offset` (rounded to pages).
    pub fn new(path: &str, offset: u64, len: usize, sync: bool) -> Result<Mapping, String> {
        let mut oo = OpenOptions::new();
        oo.read(true).write(true);
        if sync {
            oo.custom_flags(O_SYNC);
        }
        let file = oo.open(path).map_err(|e| format!("open {path}: {e}"))?;
        let page_off = offset & 0xfff;
        let map_off = offset - page_off;
        let map_len = ((len as u64 + page_off + 0xfff) & !0xfff) as usize;
        let r = unsafe {
            syscall6(
                SYS_MMAP,
                0,
                map_len,
                PROT_READ | PROT_WRITE,
                MAP_SHARED,
                file.as_raw_fd() as usize,
                map_off as usize,
            )
        };
        if r < 0 && r > -4096 {
            return Err(format!(
                "mmap {path} @{offset:#x}+{len:#x}: {}",
                std::io::Error::from_raw_os_error((-r) as i32)
            ));
        }
        log::debug!("mapped {path} {map_off:#x}+{map_len:#x}");
        Ok(Mapping {
            ptr: r as *mut u8,
            len: map_len,
            base: map_off,
            _file: file,
        })
    }

    pub fn len(&self) -> usize {
        self.len
    }

    fn check(&self, off: usize, size: usize) {
        // Offsets are computed by this program from validated layouts; an
        // out-of-range offset is a programming error, not a runtime condition.
        assert!(
            off + size <= self.len,
            "mapping access {off:#x}+{size} beyond {:#x}",
            self.len
        );
    }

    pub fn rd8(&self, off: usize) -> u8 {
        self.check(off, 1);
        unsafe { std::ptr::read_volatile(self.ptr.add(off)) }
    }
    pub fn wr8(&self, off: usize, v: u8) {
        self.check(off, 1);
        unsafe { std::ptr::write_volatile(self.ptr.add(off), v) }
    }
    pub fn rd16(&self, off: usize) -> u16 {
        self.check(off, 2);
        unsafe { std::ptr::read_volatile(self.ptr.add(off) as *const u16) }
    }
    pub fn rd32(&self, off: usize) -> u32 {
        self.check(off, 4);
        unsafe { std::ptr::read_volatile(self.ptr.add(off) as *const u32) }
    }
    pub fn wr32(&self, off: usize, v: u32) {
        self.check(off, 4);
        unsafe { std::ptr::write_volatile(self.ptr.add(off) as *mut u32, v) }
    }
    pub fn rd64(&self, off: usize) -> u64 {
        self.check(off, 8);
        unsafe { std::ptr::read_volatile(self.ptr.add(off) as *const u64) }
    }
    pub fn wr64(&self, off: usize, v: u64) {
        self.check(off, 8);
        unsafe { std::ptr::write_volatile(self.ptr.add(off) as *mut u64, v) }
    }

    /// Copy bytes out (volatile, byte-wise so it works on any memory type).
    pub fn read_bytes(&self, off: usize, len: usize) -> Vec<u8> {
        self.check(off, len);
        let mut v = Vec::with_capacity(len);
        for i in 0..len {
            v.push(unsafe { std::ptr::read_volatile(self.ptr.add(off + i)) });
        }
        v
    }
    pub fn write_bytes(&self, off: usize, data: &[u8]) {
        self.check(off, data.len());
        for (i, b) in data.iter().enumerate() {
            unsafe { std::ptr::write_volatile(self.ptr.add(off + i), *b) }
        }
    }
    pub fn fill(&self, off: usize, len: usize, v: u8) {
        self.check(off, len);
        for i in 0..len {
            unsafe { std::ptr::write_volatile(self.ptr.add(off + i), v) }
        }
    }
}

impl Drop for Mapping {
    fn drop(&mut self) {
        unsafe {
            syscall6(SYS_MUNMAP, self.ptr as usize, self.len, 0, 0, 0, 0);
        }
    }
}

/// A heap buffer aligned to 4 KiB (for O_DIRECT).
pub struct AlignedBuf {
    ptr: *mut u8,
    layout: std::alloc::Layout,
}

impl AlignedBuf {
    pub fn new(len: usize) -> Option<AlignedBuf> {
        let layout = std::alloc::Layout::from_size_align(len.max(4096), 4096).ok()?;
        let ptr = unsafe { std::alloc::alloc_zeroed(layout) };
        if ptr.is_null() {
            return None;
        }
        Some(AlignedBuf { ptr, layout })
    }
    pub fn as_slice(&self) -> &[u8] {
        unsafe { std::slice::from_raw_parts(self.ptr, self.layout.size()) }
    }
    pub fn as_mut_slice(&mut self) -> &mut [u8] {
        unsafe { std::slice::from_raw_parts_mut(self.ptr, self.layout.size()) }
    }
}

impl Drop for AlignedBuf {
    fn drop(&mut self) {
        unsafe { std::alloc::dealloc(self.ptr, self.layout) }
    }
}
