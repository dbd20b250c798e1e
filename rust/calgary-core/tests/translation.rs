//! §4: one test per translation step, plus DMA blocking and error capture.
#![allow(clippy::unwrap_used, clippy::indexing_slicing, clippy::panic)]
mod common;

use calgary_core::regs;
use calgary_core::*;
use common::*;

const TABLE: u64 = 0x10_0000;

fn setup(variant: Variant) -> (Chip, VecMem) {
    let mut c = chip(variant, CachePolicy::Off);
    enable(&mut c, 0, TABLE, 0);
    (c, VecMem::new(1 << 22))
}

#[test]
fn s4_step1_slot_disable_blocks() {
    let (mut c, mem) = setup(Variant::Calgary);
    map(&mem, TABLE, 0x200, 0x5000, false);
    let off = regs::phb_reg(0, regs::PHB_CONFIG_RW_OFFSET);
    let v = readl(&mut c, off) | regs::PHB_SLOT_DISABLE;
    writel(&mut c, off, v);
    let f = dma(&mut c, 0, 0x20_0000, Direction::Read, &mem).unwrap_err();
    assert_eq!(f.reason, FaultReason::SlotDisabled);
    // Any single slot-disable bit is enough, and it also beats bypass.
    writel(&mut c, off, 0x0400_0000);
    assert_eq!(
        dma(&mut c, 0, 0x20_0000, Direction::Read, &mem)
            .unwrap_err()
            .reason,
        FaultReason::SlotDisabled
    );
    // The same page, direction and requester again counts once (below).
    assert_eq!(c.stats(0).unwrap().blocked_slot_disabled, 1);
}

#[test]
fn blocked_retries_of_one_page_count_once() {
    // QEMU retries a blocked 4 KiB DMA in 4-byte pieces, one translate call
    // each: the statistics count the blocked page access once, and count
    // again after a successful translation or for another page/direction.
    let (mut c, mem) = setup(Variant::Calgary);
    map(&mem, TABLE, 0x200, 0x5000, false);
    for off in (0..4096u64).step_by(4) {
        assert!(dma(&mut c, 0, 0x30_0000 + off, Direction::Write, &mem).is_err());
    }
    assert_eq!(c.stats(0).unwrap().blocked_total(), 1);
    // Counting aside, a repeat still latches once the guest cleared CSR.
    writel(&mut c, regs::phb_reg(0, regs::PHB_CSR_OFFSET), 0);
    let f = dma(&mut c, 0, 0x30_0000, Direction::Write, &mem).unwrap_err();
    assert!(f.newly_latched);
    assert_ne!(c.phb_csr(0) & 0xFFE0_FFFF, 0);
    assert!(dma(&mut c, 0, 0x30_0000, Direction::Read, &mem).is_err());
    assert!(dma(&mut c, 0, 0x30_1000, Direction::Read, &mem).is_err());
    assert_eq!(c.stats(0).unwrap().blocked_total(), 3);
    assert!(dma(&mut c, 0, 0x20_0000, Direction::Read, &mem).is_ok());
    assert!(dma(&mut c, 0, 0x30_1000, Direction::Read, &mem).is_err());
    assert_eq!(c.stats(0).unwrap().blocked_total(), 4);
}

#[test]
fn s4_step2_translation_off_bypasses() {
    let mut c = calgary();
    let t = dma(&mut c, 1, 0x1234_5678, Direction::Write, &NoMem).unwrap();
    assert_eq!(
        t,
        Translation {
            phys: 0x1234_5678,
            addr_mask: 0xffff, // identity: a whole block (tce-block on)
            read: true,
            write: true,
            kind: XlateKind::Bypass
        }
    );
    c.set_blocks(false);
    let t = dma(&mut c, 1, 0x1234_5678, Direction::Write, &NoMem).unwrap();
    assert_eq!((t.phys, t.addr_mask), (0x1234_5678, 0xfff));
    assert_eq!(c.stats(1).unwrap().bypassed, 2);
    assert_eq!(c.stats(1).unwrap().tce_fetches, 0);
}

/// Clears the MEM2_ENABLE that reset sets, to test the other windows alone.
fn mem2_off(c: &mut Chip, phb: usize) {
    let off = regs::phb_reg(phb, regs::PHB_CONFIG_RW_OFFSET);
    let v = readl(c, off) & !regs::PHB_MEM2_ENABLE;
    writel(c, off, v);
}

#[test]
fn s3_reset_mem2_window_covers_the_first_mib() {
    // Model decision: MEM_2 = 0..0xFFFFF, enabled at reset, so Linux
    // reserves IO pages 0..255 on Calgary too and DMA there is untranslated.
    let (mut c, mem) = setup(Variant::Calgary);
    for a in [0u64, 0x3002, 0x9_F000, 0xF_FFFF] {
        let t = dma(&mut c, 0, a, Direction::Write, &mem).unwrap();
        assert_eq!((t.phys, t.kind), (a, XlateKind::Window));
    }
    assert_eq!(
        dma(&mut c, 0, 0x10_0000, Direction::Read, &mem)
            .unwrap_err()
            .reason,
        FaultReason::NotValid
    );
}

#[test]
fn s4_step3_calgary_legacy_window_640k_to_1m_untranslated() {
    let (mut c, mem) = setup(Variant::Calgary);
    mem2_off(&mut c, 0);
    for a in [0xA_0000u64, 0xC_1234, 0xF_FFFF] {
        let t = dma(&mut c, 0, a, Direction::Write, &mem).unwrap();
        assert_eq!((t.phys, t.kind), (a, XlateKind::Window));
    }
    // Below 640K Calgary translates (and the empty TCE faults).
    assert_eq!(
        dma(&mut c, 0, 0x9_F000, Direction::Read, &mem)
            .unwrap_err()
            .reason,
        FaultReason::NotValid
    );
    assert_eq!(
        dma(&mut c, 0, 0x10_0000, Direction::Read, &mem)
            .unwrap_err()
            .reason,
        FaultReason::NotValid
    );
    assert_eq!(c.stats(0).unwrap().window, 3);
}

#[test]
fn s4_step3_calioc2_whole_first_mib_untranslated() {
    let (mut c, mem) = setup(Variant::CalIoc2);
    for a in [0u64, 0x9_F000, 0xF_FFFF] {
        assert_eq!(
            dma(&mut c, 0, a, Direction::Read, &mem).unwrap().kind,
            XlateKind::Window
        );
    }
    assert!(dma(&mut c, 0, 0x10_0000, Direction::Read, &mem).is_err());
}

#[test]
fn s4_step3_mem1_window_untranslated_including_msi() {
    // Table of 1 M entries covers all 4 GiB; MEM_1 is 0xC0000000..=0xFFFFFFFF.
    let mut c = chip(Variant::Calgary, CachePolicy::Off);
    enable(&mut c, 0, TABLE, 7);
    let mem = VecMem::new(1 << 24);
    let t = dma(&mut c, 0, 0xFEE0_0000, Direction::Write, &mem).unwrap();
    assert_eq!(
        (t.phys, t.kind, t.addr_mask),
        (0xFEE0_0000, XlateKind::Window, 0xfff)
    );
    assert_eq!(
        dma(&mut c, 0, 0xC000_0000, Direction::Read, &mem)
            .unwrap()
            .kind,
        XlateKind::Window
    );
    assert!(dma(&mut c, 0, 0xBFFF_F000, Direction::Read, &mem).is_err());
    // The limit register is 1 MiB granular: Linux ORs in 0xFFFFF.
    writel(&mut c, regs::phb_reg(0, regs::PHB_MEM_1_LOW), 0x8000_0000);
    writel(&mut c, regs::phb_reg(0, regs::PHB_MEM_1_SIZE), 0x8010_0000);
    assert_eq!(
        dma(&mut c, 0, 0x801F_FFFF, Direction::Read, &mem)
            .unwrap()
            .kind,
        XlateKind::Window
    );
    assert!(dma(&mut c, 0, 0x8020_0000, Direction::Read, &mem).is_err());
    // A window start that is not page aligned yields a one-byte mask.
    writel(&mut c, regs::phb_reg(0, regs::PHB_MEM_1_LOW), 0x8000_0800);
    assert_eq!(
        dma(&mut c, 0, 0x8000_0900, Direction::Read, &mem)
            .unwrap()
            .addr_mask,
        0
    );
}

#[test]
fn s4_step3_mem2_window_only_when_enabled() {
    let (mut c, mem) = setup(Variant::Calgary);
    mem2_off(&mut c, 0);
    writel(&mut c, regs::phb_reg(0, regs::PHB_MEM_2_LOW), 0x0100_0000);
    writel(&mut c, regs::phb_reg(0, regs::PHB_MEM_2_HIGH), 0);
    writel(
        &mut c,
        regs::phb_reg(0, regs::PHB_MEM_2_SIZE_LOW),
        0x0100_0000,
    );
    writel(&mut c, regs::phb_reg(0, regs::PHB_MEM_2_SIZE_HIGH), 0);
    assert!(
        dma(&mut c, 0, 0x0100_0000, Direction::Read, &mem).is_err(),
        "disabled"
    );
    let off = regs::phb_reg(0, regs::PHB_CONFIG_RW_OFFSET);
    let v = readl(&mut c, off) | regs::PHB_MEM2_ENABLE;
    writel(&mut c, off, v);
    assert_eq!(
        dma(&mut c, 0, 0x010F_FFFF, Direction::Read, &mem)
            .unwrap()
            .kind,
        XlateKind::Window
    );
    assert!(dma(&mut c, 0, 0x0110_0000, Direction::Read, &mem).is_err());
}

#[test]
fn s4_step4_out_of_range_for_each_size_code() {
    for s in 0..8u64 {
        let mut c = chip(Variant::Calgary, CachePolicy::Off);
        // Keep MEM_1 out of the way so the whole IO space is translated.
        writel(&mut c, regs::phb_reg(0, regs::PHB_MEM_1_LOW), 0xFFF0_0000);
        writel(&mut c, regs::phb_reg(0, regs::PHB_MEM_1_SIZE), 0);
        enable(&mut c, 0, TABLE, s);
        let entries = 8192u64 << s;
        assert_eq!(c.table_entries(0), entries);
        let mem = VecMem::new((TABLE + entries * 8) as usize);
        let last = (entries - 1) << 12;
        if last < 0xFFF0_0000 {
            map(&mem, TABLE, entries - 1, 0x7000, false);
            assert_eq!(
                dma(&mut c, 0, last + 5, Direction::Read, &mem)
                    .unwrap()
                    .phys,
                0x7005,
                "s={s}"
            );
        }
        let f = dma(&mut c, 0, entries << 12, Direction::Read, &mem).unwrap_err();
        assert_eq!(f.reason, FaultReason::OutOfRange, "s={s}");
        assert_eq!(
            dma(&mut c, 0, u64::MAX, Direction::Write, &mem)
                .unwrap_err()
                .reason,
            FaultReason::OutOfRange
        );
    }
}

#[test]
fn s4_step5_failed_tce_read_blocks() {
    let (mut c, _) = setup(Variant::Calgary);
    let f = dma(&mut c, 0, 0x20_0000, Direction::Read, &NoMem).unwrap_err();
    assert_eq!(f.reason, FaultReason::TceReadFailed);
    assert_eq!(c.stats(0).unwrap().blocked_tce_read_failed, 1);
}

#[test]
fn s4_step5_tce_without_permission_blocks() {
    let (mut c, mem) = setup(Variant::Calgary);
    mem.write_u64_be(TABLE + 0x200 * 8, 0x5000); // page number but no bits
    for dir in [Direction::Read, Direction::Write] {
        assert_eq!(
            dma(&mut c, 0, 0x20_0000, dir, &mem).unwrap_err().reason,
            FaultReason::NotValid
        );
    }
}

#[test]
fn s4_step5_write_to_read_only_tce_blocks() {
    let (mut c, mem) = setup(Variant::Calgary);
    map(&mem, TABLE, 0x200, 0x5000, true); // DMA_TO_DEVICE: read bit only
    assert!(dma(&mut c, 0, 0x20_0000, Direction::Read, &mem).is_ok());
    assert_eq!(
        dma(&mut c, 0, 0x20_0000, Direction::Write, &mem)
            .unwrap_err()
            .reason,
        FaultReason::ReadOnly
    );
}

#[test]
fn s4_step5_read_from_write_only_tce_blocks() {
    let (mut c, mem) = setup(Variant::Calgary);
    mem.write_u64_be(TABLE + 0x200 * 8, 0x5000 | regs::TCE_WRITE);
    assert!(dma(&mut c, 0, 0x20_0000, Direction::Write, &mem).is_ok());
    assert_eq!(
        dma(&mut c, 0, 0x20_0000, Direction::Read, &mem)
            .unwrap_err()
            .reason,
        FaultReason::WriteOnly
    );
}

#[test]
fn s4_step6_page_frame_or_page_offset() {
    let (mut c, mem) = setup(Variant::Calgary);
    // Bits above 47 and the low flag bits of the TCE are not address.
    mem.write_u64_be(TABLE + 0x345 * 8, 0xFFFF_0012_3456_7003);
    let t = dma(&mut c, 0, 0x34_5ABC, Direction::Write, &mem).unwrap();
    assert_eq!(
        t,
        Translation {
            phys: 0x0012_3456_7ABC,
            addr_mask: 0xfff,
            read: true,
            write: true,
            kind: XlateKind::Translated
        }
    );
    assert_eq!(c.stats(0).unwrap().translations, 1);
}

#[test]
fn s4_table_address_comes_from_tar_bits_47_to_15() {
    let mut c = chip(Variant::Calgary, CachePolicy::Off);
    // Garbage in bits outside 47..15 and the valid bit are ignored.
    writeq(
        &mut c,
        regs::tar(0),
        0xFFFF_0000_0020_0000 | 0x7FF0 | regs::TAR_VALID,
    );
    writel(
        &mut c,
        regs::phb_reg(0, regs::PHB_CONFIG_RW_OFFSET),
        regs::PHB_TCE_ENABLE,
    );
    let mem = VecMem::new(1 << 23);
    mem.write_u64_be(0x20_0000 + 0x300 * 8, 0x9000 | 3);
    assert_eq!(
        dma(&mut c, 0, 0x30_0010, Direction::Read, &mem)
            .unwrap()
            .phys,
        0x9010
    );
}

#[test]
fn blocked_dma_latches_first_error_only() {
    let (mut c, mem) = setup(Variant::Calgary);
    let req = Requester {
        bus: 0x10,
        devfn: 0x19,
    };
    let f1 = c
        .translate(0, 0x20_0abc, Direction::Write, Access::Device, req, &mem)
        .unwrap_err();
    assert!(f1.newly_latched);
    let csr = c.phb_csr(0);
    let f2 = dma(&mut c, 0, 0x9999_0000, Direction::Read, &mem).unwrap_err();
    assert!(!f2.newly_latched);
    assert_eq!(c.phb_csr(0), csr, "first error wins");
    assert_eq!(c.latched_fault(0).unwrap().io_addr, 0x20_0abc);
    assert_eq!(c.stats(0).unwrap().errors_latched, 1);
    assert_eq!(c.stats(0).unwrap().blocked_total(), 2);
    assert_eq!(c.phb_csr(1), 0, "other PHBs unaffected");
}

#[test]
fn csr_encoding_is_documented_and_linux_sees_it() {
    let (mut c, mem) = setup(Variant::Calgary);
    let req = Requester {
        bus: 0x10,
        devfn: 0x19,
    };
    c.translate(0, 0x20_0abc, Direction::Write, Access::Device, req, &mem)
        .unwrap_err();
    let csr = c.phb_csr(0);
    assert_ne!(csr & regs::CSR_AGENT_MASK, 0);
    assert_eq!(csr, 0x8000_0000 | (4 << 27) | 0x0400_0000 | 0x1019);
    assert_eq!(c.phb_plssr(0), 0x0020_0abc);
    let info = csr_decode(csr, c.phb_plssr(0)).unwrap();
    assert_eq!(
        info,
        CsrInfo {
            reason: FaultReason::NotValid,
            dir: Direction::Write,
            requester: req,
            io_addr_low: 0x20_0abc,
            above_4g: false
        }
    );
    for reason in FaultReason::ALL {
        for dir in [Direction::Read, Direction::Write] {
            let f = Fault {
                phb: 0,
                io_addr: 0x1_2345_6789,
                dir,
                requester: req,
                reason,
                newly_latched: true,
            };
            let (csr, plssr) = csr_encode(&f);
            assert_ne!(csr & regs::CSR_AGENT_MASK, 0);
            assert_eq!(csr & 0x001F_0000, 0, "bits Linux masks out stay clear");
            assert_eq!(plssr, 0x2345_6789);
            let d = csr_decode(csr, plssr).unwrap();
            assert_eq!(
                (d.reason, d.dir, d.requester, d.above_4g),
                (reason, dir, req, true)
            );
        }
    }
    assert_eq!(csr_decode(0, 0), None);
}

#[test]
fn probe_never_latches_counts_or_fills_cache() {
    let mut c = chip(Variant::Calgary, CachePolicy::Faithful);
    enable(&mut c, 0, TABLE, 0);
    let mem = VecMem::new(1 << 22);
    let probe = |c: &mut Chip, a, dir| c.translate(0, a, dir, Access::Probe, DEV, &mem);
    let f = probe(&mut c, 0x20_0000, Direction::Write).unwrap_err();
    assert_eq!((f.reason, f.newly_latched), (FaultReason::NotValid, false));
    assert_eq!(
        probe(&mut c, 0x1_0000_0000, Direction::Read)
            .unwrap_err()
            .reason,
        FaultReason::OutOfRange
    );
    assert_eq!(c.phb_csr(0), 0);
    map(&mem, TABLE, 0x200, 0x5000, true);
    // Probe skips the direction check and reports the TCE's bits.
    let t = probe(&mut c, 0x20_0000, Direction::Write).unwrap();
    assert!(t.read && !t.write);
    assert_eq!(c.cache_occupancy(0), 0, "probe does not fill");
    let s = c.stats(0).unwrap();
    assert_eq!(
        s.blocked_total() + s.translations + s.cache_misses + s.tce_fetches,
        0
    );
    assert_eq!(s.probes, 3);
    assert_eq!(c.last_fault(0), None);
}

#[test]
fn fault_record_keeps_requester_address_direction_reason() {
    let (mut c, mem) = setup(Variant::Calgary);
    let req = Requester {
        bus: 0x11,
        devfn: 0x3a,
    };
    c.translate(0, 0x8ead_b000, Direction::Read, Access::Device, req, &mem)
        .unwrap_err();
    let f = c.last_fault(0).unwrap();
    assert_eq!(
        f,
        Fault {
            phb: 0,
            io_addr: 0x8ead_b000,
            dir: Direction::Read,
            requester: req,
            reason: FaultReason::OutOfRange,
            newly_latched: true
        }
    );
}

#[test]
fn nonexistent_phb_faults_without_latching() {
    let mut c = calgary();
    let f = dma(&mut c, 4, 0x1000, Direction::Read, &NoMem).unwrap_err();
    assert_eq!(
        (f.reason, f.newly_latched, f.phb),
        (FaultReason::OutOfRange, false, 4)
    );
    assert!(c.stats(4).is_none());
    let f = dma(&mut c, usize::MAX, 0x1000, Direction::Read, &NoMem).unwrap_err();
    assert_eq!(f.phb, 255);
}

#[test]
fn tce_address_never_overflows() {
    let mut c = chip(Variant::Calgary, CachePolicy::Off);
    writeq(&mut c, regs::tar(0), regs::TAR_TABLE_ADDR_MASK | 7);
    writel(
        &mut c,
        regs::phb_reg(0, regs::PHB_CONFIG_RW_OFFSET),
        regs::PHB_TCE_ENABLE,
    );
    let f = dma(&mut c, 0, 0xBFFF_F000, Direction::Read, &NoMem).unwrap_err();
    assert_eq!(f.reason, FaultReason::TceReadFailed);
}
