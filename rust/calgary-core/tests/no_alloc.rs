//! The hot path allocates nothing: a counting global allocator watches
//! `translate` in every policy, on hits, misses, windows, bypass and faults.
#![allow(clippy::unwrap_used, clippy::indexing_slicing, clippy::panic)]
mod common;

use std::alloc::{GlobalAlloc, Layout, System};
use std::cell::Cell;

use calgary_core::*;
use common::*;

struct Counting;
thread_local! { static ALLOCS: Cell<u64> = const { Cell::new(0) }; }

unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, l: Layout) -> *mut u8 {
        ALLOCS.with(|a| a.set(a.get() + 1));
        unsafe { System.alloc(l) }
    }
    unsafe fn dealloc(&self, p: *mut u8, l: Layout) {
        unsafe { System.dealloc(p, l) }
    }
}

#[global_allocator]
static A: Counting = Counting;

#[test]
fn translate_does_not_allocate() {
    for policy in [
        CachePolicy::Off,
        CachePolicy::Coherent,
        CachePolicy::Faithful,
    ] {
        let mem = VecMem::new(1 << 22);
        let mut c = chip(Variant::Calgary, policy);
        enable(&mut c, 0, 0x10_0000, 0);
        for i in 0..200u64 {
            map(&mem, 0x10_0000, 0x200 + i, i << 12, i % 3 == 0);
        }
        let before = ALLOCS.with(|a| a.get());
        for round in 0..3 {
            for i in 0..300u64 {
                let dir = if (i + round) % 2 == 0 {
                    Direction::Read
                } else {
                    Direction::Write
                };
                let _ = c.translate(0, (0x200 + i) << 12, dir, Access::Device, DEV, &mem);
                let _ = c.translate(0, (0x200 + i) << 12, dir, Access::Probe, DEV, &mem);
            }
            let _ = c.translate(0, 0xC_0000, Direction::Read, Access::Device, DEV, &mem);
            let _ = c.translate(1, 0x1234, Direction::Read, Access::Device, DEV, &mem);
            let _ = c.translate(0, u64::MAX, Direction::Read, Access::Device, DEV, &mem);
            let _ = c.translate(9, 0, Direction::Read, Access::Device, DEV, &mem);
        }
        assert_eq!(ALLOCS.with(|a| a.get()), before, "{policy}");
    }
}
