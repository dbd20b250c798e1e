//! Coverage-guided fuzzing of one chip: sequences of MMIO accesses (biased
//! towards real registers), TCE writes in guest memory, device DMAs,
//! probes, resets and snapshot round trips.
//!
//! Invariants checked on top of "never panics, never hangs":
//! * Off and Coherent chips agree with the reference translation (written
//!   from the spec) on every device DMA; Faithful agrees right after a flush.
//! * A fault never carries an address; a translation keeps the page offset.
//! * save -> restore -> save is the identity, and restoring mangled bytes
//!   either fails cleanly or yields a chip that saves the same bytes.
#![no_main]

use std::cell::RefCell;

use calgary_core::regs::{self, REGISTERS};
use calgary_core::*;
use libfuzzer_sys::fuzz_target;

#[path = "../../tests/common/reference.rs"]
mod reference;

const MEM_SIZE: usize = 1 << 21;

struct Mem(RefCell<Vec<u8>>);
impl GuestMemory for Mem {
    fn read_u64_be(&self, addr: u64) -> Option<u64> {
        let a = usize::try_from(addr).ok()?;
        let b = self.0.borrow();
        let s = b.get(a..a.checked_add(8)?)?;
        Some(u64::from_be_bytes(s.try_into().ok()?))
    }
}

struct Input<'a>(&'a [u8]);
impl Input<'_> {
    fn u8(&mut self) -> Option<u8> {
        let (h, t) = self.0.split_first()?;
        self.0 = t;
        Some(*h)
    }
    fn u32(&mut self) -> Option<u32> {
        Some(u32::from_le_bytes([
            self.u8()?,
            self.u8()?,
            self.u8()?,
            self.u8()?,
        ]))
    }
    fn u64(&mut self) -> Option<u64> {
        Some(u64::from(self.u32()?) | (u64::from(self.u32()?) << 32))
    }
}

fn offset(inp: &mut Input) -> Option<u64> {
    let sel = inp.u8()?;
    if sel < 200 {
        let r = &REGISTERS[usize::from(sel) % REGISTERS.len()];
        let phb = usize::from(inp.u8()? & 3);
        let half = if sel & 0x80 != 0 { 4 } else { 0 };
        Some(r.offset(phb) + half)
    } else {
        Some(u64::from(inp.u32()?) & 0xF_FFFF)
    }
}

fuzz_target!(|data: &[u8]| {
    let mut inp = Input(data);
    let Some(head) = inp.u8() else { return };
    let variant = if head & 1 == 0 {
        Variant::Calgary
    } else {
        Variant::CalIoc2
    };
    let policy = match (head >> 1) % 3 {
        0 => CachePolicy::Off,
        1 => CachePolicy::Coherent,
        _ => CachePolicy::Faithful,
    };
    let entries = 1u32 << ((head >> 3) & 7);
    let ways = (1u32 << ((head >> 6) & 3)).min(entries);
    let phb = |b| PhbConfig {
        first_bus: b,
        last_bus: b,
        mem1_start: 0xC000_0000,
        mem1_limit: 0xFFFF_FFFF,
    };
    let mk = |policy| {
        Chip::new(ChipConfig {
            variant,
            bbar: 0xfef0_0000,
            chassis: 1,
            phbs: [phb(0x10), phb(0x20), phb(0x30), phb(0x40)],
            cache: CacheConfig {
                policy,
                entries,
                ways,
            },
        })
    };
    let Ok(mut chip) = mk(policy) else { return };
    let Ok(mut off_chip) = mk(CachePolicy::Off) else {
        return;
    };
    let Ok(mut coh_chip) = mk(CachePolicy::Coherent) else {
        return;
    };
    let mem = Mem(RefCell::new(vec![0u8; MEM_SIZE]));
    let mut flushed = [true; 4];

    for _ in 0..256 {
        let Some(op) = inp.u8() else { break };
        match op % 9 {
            0 | 1 => {
                let Some(off) = offset(&mut inp) else { break };
                let Some(size) = inp
                    .u8()
                    .map(|s| [4u32, 8, 4, 1, 2, 3, 16, 4][usize::from(s & 7)])
                else {
                    break;
                };
                if op % 9 == 0 {
                    let a = chip.mmio_read(off, size);
                    let b = off_chip.mmio_read(off, size);
                    let _ = coh_chip.mmio_read(off, size);
                    assert_eq!(a.0, b.0, "register reads do not depend on the cache");
                } else {
                    let Some(v) = inp.u64() else { break };
                    chip.mmio_write(off, size, v);
                    off_chip.mmio_write(off, size, v);
                    coh_chip.mmio_write(off, size, v);
                    if let Some(d) = regs::decode(variant, off) {
                        if d.reg.id == regs::RegId::Tar {
                            flushed[d.phb] = true;
                        }
                    }
                }
            }
            2 => {
                // Structured TAR + enable, table inside guest memory.
                let Some(b) = inp.u8() else { break };
                let p = usize::from(b & 3);
                let tar = (u64::from(b >> 2) << 15) | u64::from(b & 7);
                for c in [&mut chip, &mut off_chip, &mut coh_chip] {
                    c.mmio_write(regs::tar(p), 8, tar);
                    c.mmio_write(
                        regs::phb_reg(p, regs::PHB_CONFIG_RW_OFFSET),
                        4,
                        u64::from(regs::PHB_TCE_ENABLE),
                    );
                }
                flushed[p] = true;
            }
            3 => {
                // TCE write into memory.
                let (Some(idx), Some(v)) = (inp.u32(), inp.u64()) else {
                    break;
                };
                let a = (idx as usize % (MEM_SIZE / 8)) * 8;
                mem.0.borrow_mut()[a..a + 8].copy_from_slice(&v.to_be_bytes());
                flushed = [false; 4];
            }
            4 | 5 | 6 => {
                let (Some(b), Some(addr)) = (inp.u8(), inp.u32()) else {
                    break;
                };
                let p = usize::from(b & 3);
                let addr = if b & 4 != 0 {
                    u64::from(addr) << 4
                } else {
                    u64::from(addr)
                };
                let dir = if b & 8 != 0 {
                    Direction::Write
                } else {
                    Direction::Read
                };
                let access = if b & 16 != 0 {
                    Access::Probe
                } else {
                    Access::Device
                };
                let req = Requester {
                    bus: b,
                    devfn: b >> 1,
                };
                let reference = reference::reference_translate(&off_chip, p, addr, dir, &mem);
                let r = chip.translate(p, addr, dir, access, req, &mem);
                if let Ok(t) = &r {
                    assert_eq!(t.phys & 0xFFF, addr & 0xFFF);
                    assert!(
                        match dir {
                            Direction::Read => t.read,
                            Direction::Write => t.write,
                        } || access == Access::Probe
                    );
                }
                if let Err(f) = &r {
                    assert_eq!(f.io_addr, addr);
                    assert!(!(access == Access::Probe && f.newly_latched));
                }
                if access == Access::Device {
                    let ro = off_chip
                        .translate(p, addr, dir, access, req, &mem)
                        .map(|t| t.phys)
                        .map_err(|f| f.reason);
                    let rc = coh_chip
                        .translate(p, addr, dir, access, req, &mem)
                        .map(|t| t.phys)
                        .map_err(|f| f.reason);
                    assert_eq!(ro, reference, "Off agrees with the reference");
                    assert_eq!(rc, reference, "Coherent agrees with the reference");
                    let rm = r.map(|t| t.phys).map_err(|f| f.reason);
                    if policy != CachePolicy::Faithful || flushed[p] {
                        assert_eq!(rm, reference, "{policy} (flushed={})", flushed[p]);
                    }
                }
            }
            7 => {
                let bytes = chip.save();
                let Ok(mut other) = mk(policy) else { return };
                assert_eq!(other.restore(&bytes), Ok(()));
                assert_eq!(other.save(), bytes);
                // Mangle and restore: must not panic; success keeps consistency.
                let (Some(pos), Some(x)) = (inp.u32(), inp.u8()) else {
                    break;
                };
                let mut bad = bytes.clone();
                let i = pos as usize % bad.len().max(1);
                if let Some(b) = bad.get_mut(i) {
                    *b ^= x | 1;
                }
                let cut = (pos as usize >> 8) % (bad.len() + 1);
                if x & 0x80 != 0 {
                    bad.truncate(cut);
                }
                let Ok(mut victim) = mk(policy) else { return };
                let before = victim.save();
                if victim.restore(&bad).is_ok() {
                    let again = victim.save();
                    let Ok(mut third) = mk(policy) else { return };
                    assert_eq!(third.restore(&again), Ok(()));
                    assert_eq!(third.save(), again);
                } else {
                    assert_eq!(victim.save(), before, "failed restore changes nothing");
                }
                chip = other;
            }
            _ => {
                for c in [&mut chip, &mut off_chip, &mut coh_chip] {
                    c.reset();
                }
                flushed = [true; 4];
            }
        }
    }
});
