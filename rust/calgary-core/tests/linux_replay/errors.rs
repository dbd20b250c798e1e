//! Stale entries, allocator wrap and IOMMU-full, the watchdog, QEMU's
//! probes, a disabled bus and kdump's table reuse.

use super::*;

#[test]
fn linux_freed_unflushed_entry_translates_in_faithful_faults_in_off() {
    for (policy, expect_ok) in [
        (CachePolicy::Faithful, true),
        (CachePolicy::Off, false),
        (CachePolicy::Coherent, false),
    ] {
        let mut l = boot(Variant::Calgary, policy);
        l.init_one(0x10, 0);
        let a = l.map(0x10, 0x7000, 1, false).unwrap();
        l.dma(0x10, a, Direction::Write).unwrap();
        l.unmap(0x10, a, 1);
        let r = l.dma(0x10, a, Direction::Write);
        assert_eq!(r.is_ok(), expect_ok, "{policy}");
        if let Ok(t) = r {
            assert_eq!(t.phys, 0x7000);
        } else {
            assert_eq!(r.unwrap_err().reason, FaultReason::NotValid);
        }
        if policy == CachePolicy::Coherent {
            assert_eq!(
                l.chip.stats(0).unwrap().stale_hits,
                1,
                "where hardware would have used it"
            );
        }
        l.blast(0x10);
        assert!(
            l.dma(0x10, a, Direction::Write).is_err(),
            "{policy}: gone after the flush"
        );
    }
}

#[test]
fn linux_allocator_wraps_only_after_blast_so_no_stale_translation() {
    // Small cache, smallest table: thousands of map/DMA/unmap cycles wrap
    // the allocator several times; every DMA must see its own mapping.
    let mut cfg = cfg(Variant::Calgary, CachePolicy::Faithful);
    cfg.cache.entries = 16;
    cfg.cache.ways = 2;
    let mut l = Linux::boot(Chip::new(cfg).unwrap());
    l.init_one(0x10, 0);
    for i in 0..30_000u64 {
        let phys = 0x1000_0000 + ((i % 4096) << 12);
        let n = 1 + (i % 3) as usize;
        let a = l.map(0x10, phys, n, i % 2 == 0).unwrap();
        for k in 0..n as u64 {
            assert_eq!(
                l.dma(0x10, a + (k << 12), Direction::Read).unwrap().phys,
                phys + (k << 12)
            );
        }
        l.unmap(0x10, a, n);
    }
    let s = l.chip.stats(0).unwrap();
    assert!(
        s.flushes > 3,
        "the allocator wrapped ({} flushes)",
        s.flushes
    );
    assert_eq!(s.blocked_total(), 0);
    assert!(!l.log.iter().any(|m| m.contains("IOMMU full")));
}

#[test]
fn linux_iommu_full_after_blast_and_retry() {
    let mut l = boot(Variant::Calgary, CachePolicy::Faithful);
    l.init_one(0x10, 0);
    let free = l.tbl(0x10).bitmap.free();
    let flushes = l.chip.stats(0).unwrap().flushes;
    let mut mapped = 0;
    while l.map(0x10, 0x1000, 1, false).is_some() {
        mapped += 1;
    }
    assert_eq!(mapped, free);
    assert_eq!(
        l.chip.stats(0).unwrap().flushes,
        flushes + 1,
        "blast before giving up"
    );
    assert!(l.log.iter().any(|m| m.contains("IOMMU full")));
}

#[test]
fn linux_watchdog_reports_once_clears_csr_and_disables_slot() {
    for variant in [Variant::Calgary, Variant::CalIoc2] {
        let mut l = boot(variant, CachePolicy::Faithful);
        l.init_one(0x10, 7);
        assert!(!l.watchdog(0x10), "healthy bus: nothing to report");
        let a = l.map(0x10, 0x5000, 1, false).unwrap();
        l.dma(0x10, a, Direction::Read).unwrap();
        // Errant DMA to a page nobody mapped.
        let f = l.dma(0x10, 0x7000_0000, Direction::Write).unwrap_err();
        assert!(f.newly_latched);
        assert!(l.watchdog(0x10));
        let want = match variant {
            Variant::Calgary => {
                "Calgary: DMA error on Calgary PHB 0x10, 0xa4001008@CSR 0x70000000@PLSSR"
            }
            Variant::CalIoc2 => "Calgary: DMA error on CalIOC2 PHB 0x10",
        };
        assert!(l.log.iter().any(|m| m == want), "{variant}: {:?}", l.log);
        assert_eq!(l.chip.phb_csr(0), 0);
        // Everything behind the PHB is now cut off, even mapped pages.
        assert_eq!(
            l.dma(0x10, a, Direction::Read).unwrap_err().reason,
            FaultReason::SlotDisabled
        );
        assert!(!l.watchdog(0x10), "watchdog no longer armed");
        assert_eq!(
            l.chip.last_fault(0).unwrap().reason,
            FaultReason::SlotDisabled
        );
        assert_eq!(l.chip.stats(0).unwrap().errors_latched, 2);
    }
}

#[test]
fn linux_qemu_probe_does_not_trip_watchdog() {
    let mut l = boot(Variant::Calgary, CachePolicy::Faithful);
    l.init_one(0x10, 7);
    for a in [0x7000_0000u64, 0x1_0000_0000, 0x40_0000] {
        let _ = l.chip.translate(
            0,
            a,
            Direction::Read,
            Access::Probe,
            Requester::default(),
            &l.mem,
        );
    }
    assert!(!l.watchdog(0x10));
    assert_eq!(l.chip.stats(0).unwrap().blocked_total(), 0);
}

#[test]
fn linux_calgary_disable_leaves_bus_untranslated() {
    // calgary=disable=0x20: the driver never writes TAR nor TCE_ENABLE there.
    let mut l = boot(Variant::Calgary, CachePolicy::Faithful);
    l.init_one(0x10, 7);
    let t = l.dma(0x20, 0x1234_5000, Direction::Write).unwrap();
    assert_eq!((t.phys, t.kind), (0x1234_5000, XlateKind::Bypass));
    assert_eq!(l.chip.tar(1), 0);
    assert_eq!(l.chip.stats(1).unwrap().bypassed, 1);
}

#[test]
fn linux_kdump_kernel_reuses_table_from_tar() {
    let mut l = boot(Variant::Calgary, CachePolicy::Faithful);
    l.init_one(0x10, 3);
    let a = l.map(0x10, 0xABC000, 1, false).unwrap();
    // get_tce_space_from_tar in the crash kernel
    let tar = readq(&mut l.chip, regs::tar(0));
    let size = tar & 7;
    let space = tar & regs::TAR_SW_BITS & !size;
    assert_eq!((space, size), (TABLE_BASE, 3));
    // In-flight DMA of the old kernel still lands where it was mapped.
    assert_eq!(l.dma(0x10, a, Direction::Write).unwrap().phys, 0xABC000);
}
