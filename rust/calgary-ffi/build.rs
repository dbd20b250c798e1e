//! Generates the Rust view of `c-shim/calgary-ffi.h` (the single source of
//! truth of the boundary) with bindgen. (The C test caller is built by the
//! test-only crate `calgary-ffi-ctest`, so it never enters the archive
//! QEMU links.)
use std::env;
use std::path::PathBuf;

fn main() {
    let manifest =
        PathBuf::from(env::var("CARGO_MANIFEST_DIR").expect("cargo sets CARGO_MANIFEST_DIR"));
    let shim = manifest.join("../../c-shim");
    let header = shim.join("calgary-ffi.h");
    println!("cargo:rerun-if-changed={}", header.display());

    let bindings = bindgen::Builder::default()
        .header(header.to_string_lossy())
        .allowlist_function("calgary_.*")
        .allowlist_type("Calgary.*")
        .allowlist_var("CALGARY_.*")
        .default_enum_style(bindgen::EnumVariation::Consts)
        .prepend_enum_name(false)
        .layout_tests(true)
        .generate()
        .expect("bindgen could not parse c-shim/calgary-ffi.h");
    let out = PathBuf::from(env::var("OUT_DIR").expect("cargo sets OUT_DIR"));
    bindings
        .write_to_file(out.join("calgary_ffi_sys.rs"))
        .expect("cannot write bindings");
}
