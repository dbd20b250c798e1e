//! Compiles the C test caller against the shim's FFI header.
use std::env;
use std::path::PathBuf;

fn main() {
    let manifest =
        PathBuf::from(env::var("CARGO_MANIFEST_DIR").expect("cargo sets CARGO_MANIFEST_DIR"));
    let shim = manifest.join("../../c-shim");
    println!("cargo:rerun-if-changed=ffi_caller.c");
    println!(
        "cargo:rerun-if-changed={}",
        shim.join("calgary-ffi.h").display()
    );
    cc::Build::new()
        .file(manifest.join("ffi_caller.c"))
        .include(&shim)
        .warnings(true)
        .extra_warnings(true)
        .flag_if_supported("-Werror")
        .compile("calgary_ffi_caller");
}
