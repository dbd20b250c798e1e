//! Property tests: no panics on arbitrary input; translation agrees with
//! the spec reference whenever the cache cannot be stale; a blocked DMA
//! never yields an address and always leaves an error latched.
#![allow(clippy::unwrap_used, clippy::indexing_slicing, clippy::panic)]
mod common;

use calgary_core::regs::{self, REGISTERS};
use calgary_core::*;
use common::reference::reference_translate;
use common::*;
use proptest::prelude::*;

const MEM: usize = 1 << 21;

#[derive(Clone, Debug)]
enum Op {
    Read {
        off: u64,
        size: u32,
    },
    Write {
        off: u64,
        size: u32,
        value: u64,
    },
    Enable {
        phb: usize,
        table_page: u64,
        size_code: u64,
    },
    Tce {
        idx: u64,
        value: u64,
    },
    Flush {
        phb: usize,
    },
    Dma {
        phb: usize,
        addr: u64,
        write: bool,
        probe: bool,
    },
}

fn offset() -> impl Strategy<Value = u64> {
    prop_oneof![
        3 => (0..REGISTERS.len(), 0usize..4, prop::bool::ANY)
            .prop_map(|(r, p, half)| REGISTERS[r].offset(p) + if half { 4 } else { 0 }),
        1 => any::<u64>(),
        1 => 0u64..0x10_0000,
    ]
}

fn size() -> impl Strategy<Value = u32> {
    prop_oneof![4 => Just(4u32), 3 => Just(8u32), 1 => 0u32..17]
}

fn addr() -> impl Strategy<Value = u64> {
    prop_oneof![
        4 => (0u64..0x400).prop_map(|p| (p << 12) | 0x123),
        1 => 0u64..0x10_0000,
        1 => any::<u32>().prop_map(u64::from),
        1 => any::<u64>(),
    ]
}

fn tce_value() -> impl Strategy<Value = u64> {
    prop_oneof![
        3 => (0u64..0x1000, 0u64..4).prop_map(|(page, bits)| (page << 12) | bits),
        1 => any::<u64>(),
        1 => Just(0u64),
    ]
}

fn op() -> impl Strategy<Value = Op> {
    prop_oneof![
        2 => (offset(), size()).prop_map(|(off, size)| Op::Read { off, size }),
        3 => (offset(), size(), any::<u64>()).prop_map(|(off, size, value)| Op::Write { off, size, value }),
        2 => (0usize..4, 0u64..32, 0u64..8).prop_map(|(phb, t, s)| Op::Enable { phb, table_page: t, size_code: s }),
        4 => (0u64..0x400, tce_value()).prop_map(|(idx, value)| Op::Tce { idx, value }),
        1 => (0usize..4).prop_map(|phb| Op::Flush { phb }),
        6 => (0usize..5, addr(), prop::bool::ANY, prop::bool::weighted(0.2))
            .prop_map(|(phb, addr, write, probe)| Op::Dma { phb, addr, write, probe }),
    ]
}

fn policy() -> impl Strategy<Value = CachePolicy> {
    prop_oneof![
        Just(CachePolicy::Off),
        Just(CachePolicy::Coherent),
        Just(CachePolicy::Faithful)
    ]
}

/// Runs `ops`, checking the properties after every DMA.
fn run(
    variant: Variant,
    policy: CachePolicy,
    entries: u32,
    ways: u32,
    ops: &[Op],
) -> Result<(), TestCaseError> {
    let mut cfg = cfg(variant, policy);
    cfg.cache.entries = entries;
    cfg.cache.ways = ways;
    let mut c = Chip::new(cfg).unwrap();
    let mem = VecMem::new(MEM);
    // Per PHB: has the table changed since the last flush?
    let mut dirty = [false; 4];
    for op in ops {
        match *op {
            Op::Read { off, size } => {
                let _ = c.mmio_read(off, size);
            }
            Op::Write { off, size, value } => {
                let _ = c.mmio_write(off, size, value);
                if let Some(d) = regs::decode(variant, off) {
                    if d.reg.id == regs::RegId::Tar {
                        dirty[d.phb] = false;
                    }
                }
            }
            Op::Enable {
                phb,
                table_page,
                size_code,
            } => {
                c.mmio_write(regs::tar(phb), 8, (table_page << 15) | size_code);
                let off = regs::phb_reg(phb, regs::PHB_CONFIG_RW_OFFSET);
                let v = c.mmio_peek(off, 4).unwrap() | u64::from(regs::PHB_TCE_ENABLE);
                c.mmio_write(off, 4, v & !u64::from(regs::PHB_SLOT_DISABLE));
                dirty[phb] = false;
            }
            Op::Tce { idx, value } => {
                mem.write_u64_be((idx * 8) % MEM as u64, value);
                dirty = [true; 4];
            }
            Op::Flush { phb } => {
                let tar = c.mmio_peek(regs::tar(phb), 8).unwrap();
                c.mmio_write(regs::tar(phb), 8, tar);
                dirty[phb] = false;
            }
            Op::Dma {
                phb,
                addr,
                write,
                probe,
            } => {
                let dir = if write {
                    Direction::Write
                } else {
                    Direction::Read
                };
                let access = if probe { Access::Probe } else { Access::Device };
                let reference = reference_translate(&c, phb, addr, dir, &mem);
                let csr_before = c.phb_csr(phb);
                let r = c.translate(phb, addr, dir, access, DEV, &mem);
                match &r {
                    Ok(t) => {
                        prop_assert_eq!(t.phys & 0xFFF, addr & 0xFFF);
                        if !probe {
                            let allowed = if write { t.write } else { t.read };
                            prop_assert!(allowed);
                        }
                        // One byte, one page, or a 64 KiB block (tests/blocks.rs).
                        prop_assert!(matches!(t.addr_mask, 0 | 0xFFF | 0xFFFF));
                    }
                    Err(f) => {
                        prop_assert_eq!(f.io_addr, addr);
                        if probe || phb > 3 {
                            prop_assert!(!f.newly_latched);
                            prop_assert_eq!(c.phb_csr(phb), csr_before);
                        } else {
                            // A blocked device DMA always leaves an error latched.
                            prop_assert_ne!(c.phb_csr(phb) & regs::CSR_AGENT_MASK, 0);
                            prop_assert_eq!(f.newly_latched, csr_before == 0);
                        }
                    }
                }
                let can_be_stale = policy == CachePolicy::Faithful && phb < 4 && dirty[phb];
                if !probe && !can_be_stale {
                    let got = r.map(|t| t.phys).map_err(|f| f.reason);
                    prop_assert_eq!(
                        got,
                        reference,
                        "policy {} phb {} addr {:#x}",
                        policy,
                        phb,
                        addr
                    );
                }
                if !probe && reference.is_err() && policy != CachePolicy::Faithful {
                    prop_assert!(r.is_err(), "blocked by the spec => no address");
                }
            }
        }
    }
    Ok(())
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(400))]

    #[test]
    fn arbitrary_mmio_and_dma_never_panic_and_match_reference(
        calioc2 in prop::bool::ANY,
        policy in policy(),
        geo in (0u32..7, 0u32..4),
        ops in proptest::collection::vec(op(), 1..120),
    ) {
        let variant = if calioc2 { Variant::CalIoc2 } else { Variant::Calgary };
        let entries = 1u32 << geo.0;
        let ways = (1u32 << geo.1).min(entries);
        run(variant, policy, entries, ways, &ops)?;
    }

    #[test]
    fn faithful_right_after_flush_agrees_with_reference(
        tces in proptest::collection::vec((0u64..0x100, tce_value()), 1..60),
        dmas in proptest::collection::vec((0u64..0x100, prop::bool::ANY), 1..60),
    ) {
        let mut c = chip(Variant::Calgary, CachePolicy::Faithful);
        let mem = VecMem::new(MEM);
        enable(&mut c, 0, 0x10_0000, 0);
        for (i, (idx, v)) in tces.iter().enumerate() {
            mem.write_u64_be(0x10_0000 + idx * 8, *v);
            // Warm the cache with whatever is there now.
            let (a, w) = dmas[i % dmas.len()];
            let _ = dma(&mut c, 0, (0x200 + a) << 12, if w { Direction::Write } else { Direction::Read }, &mem);
        }
        let tar = c.mmio_peek(regs::tar(0), 8).unwrap();
        c.mmio_write(regs::tar(0), 8, tar);
        for (a, w) in dmas {
            let dir = if w { Direction::Write } else { Direction::Read };
            let addr = (0x200 + a) << 12;
            let want = reference_translate(&c, 0, addr, dir, &mem);
            let got = dma(&mut c, 0, addr, dir, &mem).map(|t| t.phys).map_err(|f| f.reason);
            prop_assert_eq!(got, want);
        }
    }

    #[test]
    fn any_mmio_access_never_panics(off in any::<u64>(), size in any::<u32>(), value in any::<u64>(), is_ioc2 in prop::bool::ANY) {
        let mut c = if is_ioc2 { calioc2() } else { calgary() };
        let _ = c.mmio_write(off, size, value);
        let (v, ev) = c.mmio_read(off, size);
        if ev.is_some_and(|e| matches!(e, MmioEvent::GuestError { .. })) {
            prop_assert_eq!(v, 0);
        }
        let _ = c.translate(usize::try_from(off % 8).unwrap(), value, Direction::Write, Access::Device, DEV, &NoMem);
    }
}
