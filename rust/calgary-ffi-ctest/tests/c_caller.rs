//! The boundary exercised from C: ffi_caller.c, compiled against
//! c-shim/calgary-ffi.h and linked with calgary-ffi like QEMU links it.

// Link the C caller (this package's library) and the Rust side it calls.
use calgary_ffi as _;
use calgary_ffi_ctest as _;

extern "C" {
    fn calgary_ffi_c_selftest(stuff: *mut u32, phys: *mut u64, csr: *mut u32) -> i32;
}

#[test]
fn c_caller_drives_stuff_tar_translate_and_fault() {
    let (mut stuff, mut phys, mut csr) = (0u32, 0u64, 0u32);
    let rc = unsafe { calgary_ffi_c_selftest(&mut stuff, &mut phys, &mut csr) };
    assert_eq!(rc, 0, "C self-test failed at step {rc}");
    assert_eq!(stuff >> 16 & 0xff, 0x24, "STUFF of PHB 1 names bus 0x24");
    assert_eq!(phys, 0x12345abc);
    assert_ne!(
        csr & 0xFFE0_FFFF,
        0,
        "latched error visible to Linux's watchdog test"
    );
}
