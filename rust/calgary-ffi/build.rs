//! Generates the Rust view of `c-shim/calgary-ffi.h` (the single source of
//! truth of the boundary) with bindgen, and compiles the C test caller.
use std::env;
use std::path::PathBuf;

fn main() {
    let manifest =
        PathBuf::from(env::var("CARGO_MANIFEST_DIR").expect("cargo sets CARGO_MANIFEST_DIR"));
    let shim = manifest.join("../../c-shim");
    let header = shim.join("calgary-ffi.h");
    println!("cargo:rerun-if-changed={}", header.display());
    println!("cargo:rerun-if-changed=tests/c/ffi_caller.c");

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

    // A C program's view of the boundary, linked into `cargo test`.
    cc::Build::new()
        .file(manifest.join("tests/c/ffi_caller.c"))
        .include(&shim)
        .warnings(true)
        .extra_warnings(true)
        .flag_if_supported("-Werror")
        .compile("calgary_ffi_caller");
}
