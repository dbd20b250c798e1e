//! What the tool needs from the kernel beyond `std` and calgary-devmem
//! (which maps physical memory): the kernel log ring buffer, device nodes,
//! and a page-aligned buffer for O_DIRECT I/O. On `libc`.

pub const O_DIRECT: i32 = libc::O_DIRECT;
pub const O_NONBLOCK: i32 = libc::O_NONBLOCK;

/// syslog(2) actions (`klogctl`).
const SYSLOG_ACTION_READ_ALL: libc::c_int = 3;
const SYSLOG_ACTION_SIZE_BUFFER: libc::c_int = 10;

/// The kernel log ring buffer through syslog(2) (`klogctl`), which every
/// kernel has; `/dev/kmsg` is readable only from 3.5 on.
pub fn klog_read_all() -> Option<String> {
    // SAFETY: SIZE_BUFFER takes no buffer.
    let size = unsafe { libc::klogctl(SYSLOG_ACTION_SIZE_BUFFER, std::ptr::null_mut(), 0) };
    // Kernels before 2.6.29 do not know SIZE_BUFFER: assume a generous size.
    let size = if size > 0 { size as usize } else { 1 << 20 };
    let mut buf = vec![0u8; size.min(16 << 20)];
    let len = libc::c_int::try_from(buf.len()).ok()?;
    // SAFETY: the kernel writes at most `len` bytes into `buf`.
    let n = unsafe { libc::klogctl(SYSLOG_ACTION_READ_ALL, buf.as_mut_ptr().cast(), len) };
    if n < 0 {
        return None;
    }
    buf.truncate(n as usize);
    Some(String::from_utf8_lossy(&buf).into_owned())
}

/// Create a device node (for kernels without devtmpfs, before 2.6.32).
pub fn mknod(path: &str, block: bool, major: u32, minor: u32) -> Result<(), String> {
    let c = std::ffi::CString::new(path).map_err(|e| e.to_string())?;
    let kind = if block { libc::S_IFBLK } else { libc::S_IFCHR };
    let dev = libc::makedev(major, minor);
    // SAFETY: a NUL-terminated path that lives across the call.
    let r = unsafe { libc::mknod(c.as_ptr(), kind | 0o600, dev) };
    if r < 0 {
        return Err(format!("mknod {path}: {}", std::io::Error::last_os_error()));
    }
    Ok(())
}

/// A heap buffer aligned to 4 KiB (for O_DIRECT).
pub struct AlignedBuf {
    ptr: *mut u8,
    layout: std::alloc::Layout,
}

impl AlignedBuf {
    pub fn new(len: usize) -> Option<AlignedBuf> {
        let layout = std::alloc::Layout::from_size_align(len.max(4096), 4096).ok()?;
        // SAFETY: the layout has a non-zero size.
        let ptr = unsafe { std::alloc::alloc_zeroed(layout) };
        if ptr.is_null() {
            return None;
        }
        Some(AlignedBuf { ptr, layout })
    }
    pub fn as_slice(&self) -> &[u8] {
        // SAFETY: `ptr` owns `layout.size()` initialised (zeroed) bytes.
        unsafe { std::slice::from_raw_parts(self.ptr, self.layout.size()) }
    }
    pub fn as_mut_slice(&mut self) -> &mut [u8] {
        // SAFETY: as `as_slice`, borrowed mutably through `&mut self`.
        unsafe { std::slice::from_raw_parts_mut(self.ptr, self.layout.size()) }
    }
}

impl Drop for AlignedBuf {
    fn drop(&mut self) {
        // SAFETY: allocated in `new` with this layout.
        unsafe { std::alloc::dealloc(self.ptr, self.layout) }
    }
}

/// Opens a block device (or file) with O_DIRECT, for reading, or for
/// reading and writing, so that its DMA bypasses the page cache.
pub(crate) fn open_direct(path: &str, write: bool) -> Result<std::fs::File, String> {
    use std::os::unix::fs::OpenOptionsExt;
    std::fs::OpenOptions::new()
        .read(true)
        .write(write)
        .custom_flags(O_DIRECT)
        .open(path)
        .map_err(|e| format!("open {path}: {e}"))
}
