//! FFI (placeholder)
