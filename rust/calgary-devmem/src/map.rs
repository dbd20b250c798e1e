//! A shared memory mapping of part of a file (`/dev/mem` for physical
//! memory) with volatile accesses.

use std::fs::{File, OpenOptions};
use std::os::unix::fs::OpenOptionsExt;
use std::os::unix::io::AsRawFd;

/// `len` bytes of a file mapped read-write and shared, from file offset
/// `base + delta` (the offset asked for, rounded down to a page).
///
/// Accesses take offsets from the start of the requested range. An offset
/// outside the mapping is a bug in the calling program (offsets come from
/// layouts it computed), so it panics rather than touching other memory.
pub struct Mapping {
    ptr: *mut u8,
    map_len: usize,
    /// Bytes between the page-aligned start of the mapping and the offset
    /// that was asked for.
    delta: usize,
    len: usize,
    /// File offset (physical address for `/dev/mem`) that offset 0 of the
    /// accessors refers to.
    pub base: u64,
    _file: File,
}

impl Mapping {
    /// Maps `len` bytes of `path` from file offset `offset`. `sync` opens
    /// with `O_SYNC` (uncached, for device registers through `/dev/mem`).
    pub fn new(path: &str, offset: u64, len: usize, sync: bool) -> Result<Mapping, String> {
        let mut oo = OpenOptions::new();
        oo.read(true).write(true);
        if sync {
            oo.custom_flags(libc::O_SYNC);
        }
        let file = oo.open(path).map_err(|e| format!("open {path}: {e}"))?;
        let page = 4096u64;
        let delta = (offset % page) as usize;
        let map_off = offset - delta as u64;
        let map_len = (len + delta).div_ceil(page as usize) * page as usize;
        let off = libc::off_t::try_from(map_off)
            .map_err(|_| format!("{path}: offset {offset:#x} too large"))?;
        // SAFETY: a fresh mapping chosen by the kernel (address hint null),
        // of a file we keep open for the mapping's lifetime.
        let p = unsafe {
            libc::mmap(
                std::ptr::null_mut(),
                map_len.max(1),
                libc::PROT_READ | libc::PROT_WRITE,
                libc::MAP_SHARED,
                file.as_raw_fd(),
                off,
            )
        };
        if p == libc::MAP_FAILED {
            return Err(format!(
                "mmap {path} @{offset:#x}+{len:#x}: {}",
                std::io::Error::last_os_error()
            ));
        }
        Ok(Mapping {
            ptr: p as *mut u8,
            map_len: map_len.max(1),
            delta,
            len,
            base: offset,
            _file: file,
        })
    }

    /// Physical memory at `phys` through `/dev/mem`, uncached.
    pub fn phys(phys: u64, len: usize) -> Result<Mapping, String> {
        Mapping::new("/dev/mem", phys, len, true)
    }

    /// Length asked for.
    pub fn len(&self) -> usize {
        self.len
    }

    /// True for a zero-length mapping.
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    fn at(&self, off: usize, size: usize) -> *mut u8 {
        assert!(
            off.checked_add(size).is_some_and(|end| end <= self.len),
            "mapping access {off:#x}+{size} beyond {:#x}",
            self.len
        );
        // SAFETY: in bounds of the mapping (checked above).
        unsafe { self.ptr.add(self.delta + off) }
    }

    pub fn rd8(&self, off: usize) -> u8 {
        // SAFETY: `at` checked the range.
        unsafe { std::ptr::read_volatile(self.at(off, 1)) }
    }
    pub fn wr8(&self, off: usize, v: u8) {
        // SAFETY: `at` checked the range.
        unsafe { std::ptr::write_volatile(self.at(off, 1), v) }
    }
    pub fn rd16(&self, off: usize) -> u16 {
        // SAFETY: `at` checked the range; unaligned reads are allowed on x86.
        unsafe { std::ptr::read_volatile(self.at(off, 2) as *const u16) }
    }
    pub fn rd32(&self, off: usize) -> u32 {
        // SAFETY: as rd16.
        unsafe { std::ptr::read_volatile(self.at(off, 4) as *const u32) }
    }
    pub fn wr32(&self, off: usize, v: u32) {
        // SAFETY: as rd16.
        unsafe { std::ptr::write_volatile(self.at(off, 4) as *mut u32, v) }
    }
    pub fn rd64(&self, off: usize) -> u64 {
        // SAFETY: as rd16.
        unsafe { std::ptr::read_volatile(self.at(off, 8) as *const u64) }
    }
    pub fn wr64(&self, off: usize, v: u64) {
        // SAFETY: as rd16.
        unsafe { std::ptr::write_volatile(self.at(off, 8) as *mut u64, v) }
    }

    /// Copies bytes out, one volatile byte access each (fine on any memory type).
    pub fn read_bytes(&self, off: usize, len: usize) -> Vec<u8> {
        let p = self.at(off, len);
        // SAFETY: the whole range was checked.
        (0..len)
            .map(|i| unsafe { std::ptr::read_volatile(p.add(i)) })
            .collect()
    }
    /// Sets `len` bytes to `v`, one volatile byte access each.
    pub fn fill(&self, off: usize, len: usize, v: u8) {
        let p = self.at(off, len);
        for i in 0..len {
            // SAFETY: the whole range was checked.
            unsafe { std::ptr::write_volatile(p.add(i), v) }
        }
    }
    /// Copies bytes in, one volatile byte access each.
    pub fn write_bytes(&self, off: usize, data: &[u8]) {
        let p = self.at(off, data.len());
        for (i, b) in data.iter().enumerate() {
            // SAFETY: the whole range was checked.
            unsafe { std::ptr::write_volatile(p.add(i), *b) }
        }
    }
}

impl Drop for Mapping {
    fn drop(&mut self) {
        // SAFETY: unmaps exactly the mapping made in `new`.
        unsafe {
            libc::munmap(self.ptr as *mut libc::c_void, self.map_len);
        }
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;

    /// A scratch file of `len` zero bytes to map in tests.
    pub(crate) fn scratch(len: usize) -> (std::path::PathBuf, File) {
        let mut p = std::env::temp_dir();
        p.push(format!(
            "calgary-devmem-{}-{:?}",
            std::process::id(),
            std::thread::current().id()
        ));
        let f = File::create(&p).expect("scratch file");
        f.set_len(len as u64).expect("scratch size");
        (p, f)
    }

    #[test]
    fn unaligned_offset_maps_from_the_byte_asked_for() {
        // Not page-aligned, but 8-byte aligned: volatile accesses need
        // natural alignment (debug builds check it).
        let (path, _f) = scratch(3 * 4096);
        let ps = path.to_str().expect("utf-8 path");
        let whole = Mapping::new(ps, 0, 3 * 4096, false).expect("map");
        whole.write_bytes(0x1238, &[1, 2, 3, 4, 5, 6, 7, 8]);
        let part = Mapping::new(ps, 0x1238, 8, false).expect("map part");
        assert_eq!(part.base, 0x1238);
        assert_eq!(part.read_bytes(0, 8), vec![1, 2, 3, 4, 5, 6, 7, 8]);
        assert_eq!(part.rd32(0), u32::from_ne_bytes([1, 2, 3, 4]));
        part.wr64(0, 0x1122_3344_5566_7788);
        assert_eq!(whole.rd64(0x1238), 0x1122_3344_5566_7788);
        std::fs::remove_file(path).ok();
    }

    #[test]
    #[should_panic(expected = "beyond")]
    fn access_past_the_end_panics_instead_of_touching_memory() {
        let (path, _f) = scratch(4096);
        let m = Mapping::new(path.to_str().expect("utf-8"), 0, 16, false).expect("map");
        std::fs::remove_file(&path).ok();
        m.rd32(14);
    }

    #[test]
    fn missing_file_is_an_error() {
        let e = Mapping::new("/nonexistent/calgary", 0, 16, false)
            .err()
            .expect("must fail");
        assert!(e.contains("/nonexistent/calgary"), "{e}");
    }
}
