//! Physical memory from Linux user space, for the tools that run inside a
//! guest of the Calgary machine.
//!
//! - [`Mapping`]: a shared `mmap` of `/dev/mem` (or of any file, such as a
//!   sysfs `resourceN`) with volatile accesses;
//! - [`Window`]: one chip's 1 MiB register window (big-endian registers,
//!   offsets and bits from `calgary_core::regs`);
//! - [`premap`]: "pre-map everything" — an identity TCE table over all RAM
//!   and translation switched on for chosen PHBs.
//!
//! Reading `/dev/mem` above 1 MiB needs a kernel booted with
//! `iomem=relaxed` (or without `CONFIG_STRICT_DEVMEM`).

mod map;
pub mod premap;
mod window;

pub use map::Mapping;
pub use window::Window;
