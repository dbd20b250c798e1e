//! Test-only package: builds `ffi_caller.c`, a C program's view of the
//! boundary declared in `c-shim/calgary-ffi.h`, and links it with
//! calgary-ffi for `tests/c_caller.rs`. It lives here, not in calgary-ffi's
//! build script, so that the C caller never enters `libcalgary_ffi.a`, the
//! archive QEMU links.
