//! Fault injection (`inject.rs`): each kind's state machine, counters,
//! the driver's flush sequences replayed against it, reset and snapshot.
#![allow(clippy::unwrap_used, clippy::indexing_slicing, clippy::panic)]
mod common;

use calgary_core::inject::{
    parse_latch, ErrorRegs, InjectError, InjectState, Injection, SPLIT_QUEUE_BUSY,
};
use calgary_core::regs;
use calgary_core::*;
use common::*;

const TABLE: u64 = 0x10_0000;

/// What Linux's flush saw: split-queue reads, whether it logged "not
/// quiesced", SoftStopFault attempts, whether it aborted, whether TAR was
/// written (the flush itself).
#[derive(Debug, Default, PartialEq)]
struct Blast {
    polls: u32,
    not_quiesced: bool,
    attempts: u32,
    too_many_softstop_faults: bool,
    flushed: bool,
}

/// `calgary_tce_cache_blast` (Linux 2.6.23..5.6) as register accesses.
fn calgary_blast(c: &mut Chip, p: usize) -> Blast {
    let mut b = Blast::default();
    let aer_off = regs::phb_reg(p, regs::PHB_AER_OFFSET);
    let aer = readl(c, aer_off);
    writel(c, aer_off, 0);
    readl(c, regs::phb_reg(p, regs::PHB_PLSSR_OFFSET));
    let mut i = 0;
    loop {
        let v = readq_raw_x86(c, regs::split_queue(p));
        i += 1;
        if (v & 0xff) == 0xff || i >= 100 {
            break;
        }
    }
    b.polls = i;
    b.not_quiesced = i == 100;
    let tar = readq(c, regs::tar(p));
    writeq(c, regs::tar(p), tar);
    b.flushed = true;
    writel(c, aer_off, aer);
    readl(c, aer_off);
    b
}

/// `calioc2_tce_cache_blast`: note that Linux does not reset `i` when it
/// starts over after a SoftStopFault.
fn calioc2_blast(c: &mut Chip, p: usize) -> Blast {
    let mut b = Blast::default();
    let pmcr = regs::phb_reg(p, regs::PHB_PAGE_MIG_CTRL);
    let pmdr = regs::phb_reg(p, regs::PHB_PAGE_MIG_DEBUG);
    let mut i = 0u32;
    let mut count = 1;
    loop {
        b.attempts += 1;
        let v = readl(c, pmcr) | regs::PMR_SOFTSTOP;
        writel(c, pmcr, v);
        loop {
            let v = readq_raw_x86(c, regs::split_queue(p));
            i += 1;
            b.polls += 1;
            if (v & 0xff) == 0xff || i >= 100 {
                break;
            }
        }
        if i == 100 {
            b.not_quiesced = true;
        }
        if readl(c, pmdr) & regs::PMR_SOFTSTOPFAULT != 0 {
            count += 1;
            if count < 100 {
                continue;
            }
            b.too_many_softstop_faults = true;
            return b;
        }
        break;
    }
    readl(c, pmcr);
    readl(c, pmdr);
    let tar = readq(c, regs::tar(p));
    writeq(c, regs::tar(p), tar);
    b.flushed = true;
    readl(c, pmcr);
    writel(c, pmcr, 0);
    readl(c, pmcr);
    b
}

fn armed(c: &Chip, p: usize) -> InjectState {
    c.injections(p).unwrap()
}

// ------------------------------------------------------------ split queue

#[test]
fn split_busy_reads_busy_n_times_then_idle() {
    let mut c = calgary();
    c.inject(1, Injection::SplitBusy(3)).unwrap();
    assert_eq!(armed(&c, 1).split_busy, 3);
    // The monitor's side-effect-free read shows it without consuming.
    assert_eq!(c.mmio_peek(regs::split_queue(1), 8), Some(SPLIT_QUEUE_BUSY));
    for _ in 0..3 {
        assert_ne!(readq_raw_x86(&mut c, regs::split_queue(1)) & 0xff, 0xff);
    }
    assert_eq!(readq_raw_x86(&mut c, regs::split_queue(1)) & 0xff, 0xff);
    assert_eq!(readq(&mut c, regs::split_queue(1)), regs::SPLIT_QUEUE_IDLE);
    assert_eq!(armed(&c, 1).split_busy, 0);
    let st = c.inject_stats(1).unwrap();
    assert_eq!((st.split_busy_reads, st.armed), (3, 1));
    // Other PHBs were never busy.
    assert_eq!(c.inject_stats(0).unwrap().split_busy_reads, 0);
    assert_eq!(readq(&mut c, regs::split_queue(0)), regs::SPLIT_QUEUE_IDLE);
}

#[test]
fn split_busy_half_reads_consume_one_each() {
    let mut c = calgary();
    c.inject(0, Injection::SplitBusy(2)).unwrap();
    assert_eq!(readl(&mut c, regs::split_queue(0)), 0);
    assert_eq!(readl(&mut c, regs::split_queue(0) + 4), 0);
    assert_eq!(readl(&mut c, regs::split_queue(0)), 0xFF00_0000);
}

#[test]
fn linux_flush_with_split_busy_up_to_98_polls_stays_quiet() {
    for n in [1, 3, 50, 98] {
        let mut c = calgary();
        c.inject(2, Injection::SplitBusy(n)).unwrap();
        let b = calgary_blast(&mut c, 2);
        assert_eq!(b.polls, n + 1, "n={n}");
        assert!(!b.not_quiesced, "n={n}");
        assert!(b.flushed);
        assert_eq!(c.stats(2).unwrap().flushes, 1);
        assert_eq!(c.inject_stats(2).unwrap().split_busy_reads, u64::from(n));
    }
}

#[test]
fn linux_flush_with_split_busy_from_99_polls_says_not_quiesced_and_flushes_anyway() {
    // Linux stops at i == 100 and warns when i == 100, so a queue that
    // drains on the 100th read (n = 99) is reported too.
    for n in [99, 100, 101, 150, 1000] {
        let mut c = calgary();
        c.inject(0, Injection::SplitBusy(n)).unwrap();
        let b = calgary_blast(&mut c, 0);
        assert_eq!(b.polls, 100);
        assert!(b.not_quiesced, "n={n}");
        assert!(b.flushed);
        assert_eq!(
            c.stats(0).unwrap().flushes,
            1,
            "continuing anyway: TAR written"
        );
        assert_eq!(armed(&c, 0).split_busy, n.saturating_sub(100));
    }
}

#[test]
fn split_busy_150_spans_two_flushes_the_second_one_quiet() {
    let mut c = calgary();
    c.inject(0, Injection::SplitBusy(150)).unwrap();
    let first = calgary_blast(&mut c, 0);
    let second = calgary_blast(&mut c, 0);
    assert!(first.not_quiesced);
    assert_eq!((second.polls, second.not_quiesced), (51, false));
    assert_eq!(c.inject_stats(0).unwrap().split_busy_reads, 150);
    assert_eq!(c.stats(0).unwrap().flushes, 2);
}

#[test]
fn arming_replaces_and_zero_disarms() {
    let mut c = calgary();
    c.inject(0, Injection::SplitBusy(10)).unwrap();
    c.inject(0, Injection::SplitBusy(2)).unwrap();
    assert_eq!(armed(&c, 0).split_busy, 2);
    c.inject(0, Injection::SplitBusy(0)).unwrap();
    assert_eq!(armed(&c, 0), InjectState::default());
    assert_eq!(readq(&mut c, regs::split_queue(0)), regs::SPLIT_QUEUE_IDLE);
    assert_eq!(c.inject_stats(0).unwrap().armed, 3);
    assert_eq!(
        c.inject(4, Injection::SplitBusy(1)),
        Err(InjectError::NoSuchPhb(4))
    );
}

// ------------------------------------------------------------ SoftStopFault

#[test]
fn softstop_fault_is_calioc2_only() {
    let mut c = calgary();
    let e = c.inject(0, Injection::SoftStopFault(1)).unwrap_err();
    assert!(matches!(e, InjectError::NotOnVariant(_, Variant::Calgary)));
    assert!(e.to_string().contains("Calgary"));
}

#[test]
fn softstop_fault_only_fires_while_softstop_is_requested() {
    let mut c = calioc2();
    c.inject(0, Injection::SoftStopFault(2)).unwrap();
    let pmdr = regs::phb_reg(0, regs::PHB_PAGE_MIG_DEBUG);
    // Running: PMDR reads 0 and nothing is consumed.
    assert_eq!(readl(&mut c, pmdr), 0);
    assert_eq!(armed(&c, 0).softstop_faults, 2);
    writel(
        &mut c,
        regs::phb_reg(0, regs::PHB_PAGE_MIG_CTRL),
        regs::PMR_SOFTSTOP,
    );
    assert_eq!(
        c.mmio_peek(pmdr, 4),
        Some(u64::from(regs::PMR_SOFTSTOPFAULT))
    );
    assert_eq!(readl(&mut c, pmdr), regs::PMR_SOFTSTOPFAULT);
    assert_eq!(readl(&mut c, pmdr), regs::PMR_SOFTSTOPFAULT);
    assert_eq!(readl(&mut c, pmdr), 0);
    assert_eq!(c.inject_stats(0).unwrap().softstop_faults, 2);
}

#[test]
fn linux_calioc2_flush_retries_on_softstop_fault_then_flushes() {
    for n in [1, 5, 98] {
        let mut c = calioc2();
        c.inject(3, Injection::SoftStopFault(n)).unwrap();
        let b = calioc2_blast(&mut c, 3);
        assert_eq!(b.attempts, n + 1, "n={n}");
        assert!(!b.too_many_softstop_faults);
        assert!(b.flushed);
        assert_eq!(c.stats(3).unwrap().flushes, 1);
        assert_eq!(c.stop_state(3), StopState::Running);
        assert_eq!(c.inject_stats(3).unwrap().softstop_faults, u64::from(n));
    }
}

#[test]
fn linux_calioc2_flush_gives_up_after_99_softstop_faults_without_flushing() {
    let mut c = calioc2();
    c.inject(1, Injection::SoftStopFault(120)).unwrap();
    let b = calioc2_blast(&mut c, 1);
    assert_eq!(b.attempts, 99);
    assert!(b.too_many_softstop_faults);
    assert!(!b.flushed);
    assert_eq!(
        c.stats(1).unwrap().flushes,
        0,
        "no TAR write: stale TCEs stay"
    );
    // "pray for the best": Linux leaves SoftStop requested.
    assert_ne!(c.stop_state(1), StopState::Running);
    assert_eq!(armed(&c, 1).softstop_faults, 21);
    // The next flush consumes the rest and goes through.
    let b = calioc2_blast(&mut c, 1);
    assert_eq!((b.attempts, b.flushed), (22, true));
    assert_eq!(c.stop_state(1), StopState::Running);
}

#[test]
fn calioc2_flush_with_split_busy_and_softstop_fault_together() {
    // Linux's `i` keeps counting across attempts: the first attempt polls
    // 100 times and warns, later attempts poll once each.
    let mut c = calioc2();
    c.inject(0, Injection::SplitBusy(150)).unwrap();
    c.inject(0, Injection::SoftStopFault(3)).unwrap();
    let b = calioc2_blast(&mut c, 0);
    assert!(b.not_quiesced);
    assert_eq!((b.attempts, b.polls, b.flushed), (4, 103, true));
    assert_eq!(c.inject_stats(0).unwrap().split_busy_reads, 103);
}

// ------------------------------------------------------------ TCE fetch failure

fn mapped_chip(policy: CachePolicy) -> (Chip, VecMem) {
    let mem = VecMem::new(1 << 22);
    let mut c = chip(Variant::Calgary, policy);
    enable(&mut c, 0, TABLE, 0);
    for i in 0..8 {
        map(&mem, TABLE, 0x300 + i, 0x20_0000 + (i << 12), false);
    }
    (c, mem)
}

#[test]
fn tce_fetch_fail_blocks_latches_reason_3_and_counts() {
    let (mut c, mem) = mapped_chip(CachePolicy::Off);
    c.inject(0, Injection::TceFetchFail(1)).unwrap();
    let f = dma(&mut c, 0, 0x300 << 12, Direction::Write, &mem).unwrap_err();
    assert_eq!(f.reason, FaultReason::TceReadFailed);
    assert!(f.newly_latched);
    let info = csr_decode(c.phb_csr(0), c.phb_plssr(0)).unwrap();
    assert_eq!(info.reason, FaultReason::TceReadFailed);
    assert_eq!((info.dir, info.requester), (Direction::Write, DEV));
    assert_eq!(info.io_addr_low, 0x30_0000);
    assert_eq!(c.phb_csr(0) & 0xffe0_ffff, c.phb_csr(0));
    assert_eq!(c.phb_csr(0) >> 27 & 0xf, 3);
    let st = c.stats(0).unwrap();
    assert_eq!((st.blocked_tce_read_failed, st.errors_latched), (1, 1));
    assert_eq!(c.inject_stats(0).unwrap().tce_fetch_failures, 1);
    assert_eq!(armed(&c, 0).tce_fetch_fail, 0);
}

#[test]
fn tce_fetch_fail_retries_of_the_same_page_stay_blocked() {
    // QEMU retries a blocked access in pieces: none may get through.
    let (mut c, mem) = mapped_chip(CachePolicy::Faithful);
    c.inject(0, Injection::TceFetchFail(1)).unwrap();
    for off in [0u64, 4, 8, 0xffc] {
        let f = dma(&mut c, 0, (0x301 << 12) + off, Direction::Read, &mem).unwrap_err();
        assert_eq!(f.reason, FaultReason::TceReadFailed);
    }
    assert_eq!(c.inject_stats(0).unwrap().tce_fetch_failures, 1);
    assert_eq!(
        c.stats(0).unwrap().blocked_tce_read_failed,
        1,
        "one page, one count"
    );
    assert_eq!(c.cache_occupancy(0), 0, "a failed fetch caches nothing");
    // A new access of that page (starting again at its first byte) is not
    // a retry: it fetches, and with the count used up it translates.
    let t = dma(&mut c, 0, 0x301 << 12, Direction::Read, &mem).unwrap();
    assert_eq!(t.phys, 0x20_1000);
    let (mut c, mem) = mapped_chip(CachePolicy::Off);
    c.inject(0, Injection::TceFetchFail(1)).unwrap();
    dma(&mut c, 0, 0x301 << 12, Direction::Read, &mem).unwrap_err();
    // Another page of the requester translates: the blocked access is over.
    let t = dma(&mut c, 0, 0x302 << 12, Direction::Read, &mem).unwrap();
    assert_eq!(t.phys, 0x20_2000);
    let t = dma(&mut c, 0, 0x301 << 12, Direction::Read, &mem).unwrap();
    assert_eq!(t.phys, 0x20_1000);
}

#[test]
fn tce_fetch_fail_counts_fetches_not_cache_hits_and_not_probes() {
    let (mut c, mem) = mapped_chip(CachePolicy::Faithful);
    dma(&mut c, 0, 0x300 << 12, Direction::Read, &mem).unwrap();
    c.inject(0, Injection::TceFetchFail(2)).unwrap();
    // Cached: no fetch, nothing fails.
    dma(&mut c, 0, 0x300 << 12, Direction::Read, &mem).unwrap();
    // A probe fetches without counting.
    c.translate(0, 0x303 << 12, Direction::Read, Access::Probe, DEV, &mem)
        .unwrap();
    assert_eq!(armed(&c, 0).tce_fetch_fail, 2);
    dma(&mut c, 0, 0x304 << 12, Direction::Read, &mem).unwrap_err();
    dma(&mut c, 0, 0x305 << 12, Direction::Read, &mem).unwrap_err();
    dma(&mut c, 0, 0x306 << 12, Direction::Read, &mem).unwrap();
    assert_eq!(c.inject_stats(0).unwrap().tce_fetch_failures, 2);
    // Only the first one latched (first error wins).
    assert_eq!(
        csr_decode(c.phb_csr(0), c.phb_plssr(0))
            .unwrap()
            .io_addr_low,
        0x30_4000
    );
}

#[test]
fn tce_fetch_fail_hits_coherent_revalidation_and_line_fill() {
    let (mut c, mem) = mapped_chip(CachePolicy::Coherent);
    dma(&mut c, 0, 0x300 << 12, Direction::Read, &mem).unwrap();
    c.inject(0, Injection::TceFetchFail(1)).unwrap();
    let f = dma(&mut c, 0, 0x300 << 12, Direction::Read, &mem).unwrap_err();
    assert_eq!(f.reason, FaultReason::TceReadFailed);

    let (mut c, mem) = mapped_chip(CachePolicy::Faithful);
    c.set_line_fill(true);
    c.inject(0, Injection::TceFetchFail(1)).unwrap();
    dma(&mut c, 0, 0x300 << 12, Direction::Read, &mem).unwrap_err();
    assert_eq!(c.cache_occupancy(0), 0);
    dma(&mut c, 0, 0x307 << 12, Direction::Read, &mem).unwrap();
    assert_eq!(c.cache_occupancy(0), 8, "the next line fill is normal");
}

#[test]
fn tce_fetch_fail_does_not_apply_to_bypass_or_windows() {
    let mem = VecMem::new(1 << 22);
    let mut c = calgary();
    c.inject(0, Injection::TceFetchFail(1)).unwrap();
    // Translation off: no TCE fetch at all.
    let t = dma(&mut c, 0, 0x1234_5000, Direction::Read, &mem).unwrap();
    assert_eq!(t.kind, XlateKind::Bypass);
    assert_eq!(armed(&c, 0).tce_fetch_fail, 1);
}

// ------------------------------------------------------------ latched error

#[test]
fn latch_error_now_shows_in_csr_plssr_until_the_guest_clears_it() {
    let mem = VecMem::new(1 << 22);
    let mut c = calgary();
    let csr_off = regs::phb_reg(2, regs::PHB_CSR_OFFSET);
    let plssr_off = regs::phb_reg(2, regs::PHB_PLSSR_OFFSET);
    c.inject(
        2,
        Injection::LatchError {
            csr: 0x8800_1234,
            plssr: 0xdead_beef,
        },
    )
    .unwrap();
    assert_eq!(readl(&mut c, csr_off), 0x8800_1234);
    assert_eq!(readl(&mut c, plssr_off), 0xdead_beef);
    assert!(armed(&c, 2).error_latched);
    assert_eq!(c.latched_fault(2), None, "no DMA behind it");
    // First error wins: neither another injection nor a blocked DMA
    // replaces it.
    assert_eq!(
        c.inject(2, Injection::LatchError { csr: 1, plssr: 2 }),
        Err(InjectError::ErrorAlreadyLatched)
    );
    enable(&mut c, 2, TABLE, 0);
    let f = dma(&mut c, 2, 0x40_0000, Direction::Read, &mem).unwrap_err();
    assert!(!f.newly_latched);
    assert_eq!(readl(&mut c, csr_off), 0x8800_1234);
    // Linux's watchdog: write 0 clears both.
    assert_eq!(
        writel(&mut c, csr_off, 0),
        Some(MmioEvent::ErrorCleared { phb: 2 })
    );
    assert_eq!((readl(&mut c, csr_off), readl(&mut c, plssr_off)), (0, 0));
    assert!(!armed(&c, 2).error_latched);
    // The next blocked DMA latches normally.
    let f = dma(&mut c, 2, 0x40_0000, Direction::Write, &mem).unwrap_err();
    assert!(f.newly_latched);
    let st = c.inject_stats(2).unwrap();
    assert_eq!((st.errors_latched, st.armed), (1, 1));
    assert_eq!(c.stats(2).unwrap().errors_latched, 1, "only the DMA one");
}

#[test]
fn latch_error_refuses_csr_zero_and_a_dma_latched_error() {
    let mem = VecMem::new(1 << 22);
    let mut c = calgary();
    assert_eq!(
        c.inject(0, Injection::LatchError { csr: 0, plssr: 5 }),
        Err(InjectError::ZeroCsr)
    );
    enable(&mut c, 0, TABLE, 0);
    dma(&mut c, 0, 0x40_0000, Direction::Read, &mem).unwrap_err();
    assert_eq!(
        c.inject(
            0,
            Injection::LatchError {
                csr: 0x8000_0000,
                plssr: 0
            }
        ),
        Err(InjectError::ErrorAlreadyLatched)
    );
    assert_eq!(c.inject_stats(0).unwrap().armed, 0);
}

#[test]
fn linux_watchdog_sees_the_injected_error_and_disables_the_slot() {
    let mut c = calgary();
    c.inject(
        1,
        Injection::LatchError {
            csr: 0x9000_0000,
            plssr: 0x1000,
        },
    )
    .unwrap();
    // calgary_watchdog: CSR & 0xffe0ffff -> dump, clear, slot disable.
    let csr_off = regs::phb_reg(1, regs::PHB_CSR_OFFSET);
    let val = readl(&mut c, csr_off);
    assert_ne!(val & 0xffe0_ffff, 0);
    let plssr = readl(&mut c, regs::phb_reg(1, regs::PHB_PLSSR_OFFSET));
    assert_eq!(
        format!(
            "DMA error on Calgary PHB 0x{:x}, 0x{val:08x}@CSR 0x{plssr:08x}@PLSSR",
            0x20
        ),
        "DMA error on Calgary PHB 0x20, 0x90000000@CSR 0x00001000@PLSSR"
    );
    writel(&mut c, csr_off, 0);
    let cfg_off = regs::phb_reg(1, regs::PHB_CONFIG_RW_OFFSET);
    let v = readl(&mut c, cfg_off) | regs::PHB_SLOT_DISABLE;
    writel(&mut c, cfg_off, v);
    let mem = VecMem::new(1 << 22);
    assert_eq!(
        dma(&mut c, 1, 0x1000, Direction::Read, &mem)
            .unwrap_err()
            .reason,
        FaultReason::SlotDisabled
    );
    // Other PHBs are untouched.
    assert_eq!(c.phb_csr(0), 0);
    assert!(dma(&mut c, 0, 0x1000, Direction::Read, &mem).is_ok());
}

// ------------------------------------------------------------ error registers

#[test]
fn error_regs_read_back_as_injected_and_ignore_guest_writes() {
    let mut c = calioc2();
    let r = ErrorRegs::parse("0x11:0x22:0x810:0x820:0x830:0x840:0x850:0x860:0x870").unwrap();
    c.inject(3, Injection::ErrorRegs(r)).unwrap();
    assert_eq!(readl(&mut c, regs::phb_reg(3, regs::PHB_CSMR)), 0x11);
    assert_eq!(readl(&mut c, regs::phb_reg(3, regs::PHB_MCK)), 0x22);
    for i in 0..7u64 {
        let off = regs::PHB_ERR_BASE + 0x10 * i;
        assert_eq!(u64::from(readl(&mut c, regs::phb_reg(3, off))), off);
    }
    let ev = c.mmio_write(regs::phb_reg(3, regs::PHB_MCK), 4, 0);
    assert!(matches!(
        ev,
        Some(MmioEvent::GuestError {
            kind: GuestErrorKind::ReadOnly,
            ..
        })
    ));
    assert_eq!(c.error_regs(3), Some(r));
    assert_eq!(c.error_regs(2), Some(ErrorRegs::default()));
    assert_eq!(c.inject_stats(3).unwrap().error_regs_set, 1);
    // Also on Calgary (the registers exist there; only CalIOC2's driver
    // prints them).
    let mut g = calgary();
    g.inject(0, Injection::ErrorRegs(r)).unwrap();
    assert_eq!(readl(&mut g, regs::phb_reg(0, regs::PHB_CSMR)), 0x11);
}

#[test]
fn error_regs_text_round_trips_and_rejects_garbage() {
    let r = ErrorRegs::parse("0x1:2").unwrap();
    assert_eq!((r.csmr, r.mck, r.err), (1, 2, [0; 7]));
    assert_eq!(ErrorRegs::parse("").unwrap(), ErrorRegs::default());
    let full = ErrorRegs {
        csmr: 0xdead_beef,
        mck: 7,
        err: [1, 2, 3, 4, 5, 6, 0xffff_ffff],
    };
    assert_eq!(ErrorRegs::parse(&full.to_string()).unwrap(), full);
    assert!(ErrorRegs::parse("1:2:3:4:5:6:7:8:9:10").is_err());
    assert!(ErrorRegs::parse("0x1g").is_err());
    assert!(ErrorRegs::parse("0x100000000").is_err());
    assert_eq!(parse_latch("0x80000001:0x1000"), Ok((0x8000_0001, 0x1000)));
    assert_eq!(parse_latch("0x80000001"), Ok((0x8000_0001, 0)));
    assert!(parse_latch("x").is_err());
    assert!(parse_latch("1:2:3").is_err());
}

// ------------------------------------------------------------ reset, snapshot

#[test]
fn reset_disarms_everything_and_keeps_the_counters() {
    let mut c = calioc2();
    c.inject(0, Injection::SplitBusy(5)).unwrap();
    c.inject(0, Injection::SoftStopFault(5)).unwrap();
    c.inject(0, Injection::TceFetchFail(5)).unwrap();
    c.inject(
        0,
        Injection::LatchError {
            csr: 0x8000_0000,
            plssr: 1,
        },
    )
    .unwrap();
    c.inject(0, Injection::ErrorRegs(ErrorRegs::parse("1:2:3").unwrap()))
        .unwrap();
    readq(&mut c, regs::split_queue(0));
    c.reset();
    assert_eq!(armed(&c, 0), InjectState::default());
    assert_eq!(c.phb_csr(0), 0);
    assert_eq!(c.error_regs(0), Some(ErrorRegs::default()));
    assert_eq!(readq(&mut c, regs::split_queue(0)), regs::SPLIT_QUEUE_IDLE);
    let st = c.inject_stats(0).unwrap();
    assert_eq!(
        (st.armed, st.split_busy_reads, st.errors_latched),
        (5, 1, 1)
    );
    // CSR is free again after reset.
    c.inject(
        0,
        Injection::LatchError {
            csr: 0x8000_0000,
            plssr: 1,
        },
    )
    .unwrap();
}

#[test]
fn armed_injections_and_an_injected_latch_survive_migration() {
    let mut c = calioc2();
    c.inject(0, Injection::SplitBusy(150)).unwrap();
    c.inject(1, Injection::SoftStopFault(7)).unwrap();
    c.inject(2, Injection::TceFetchFail(3)).unwrap();
    c.inject(
        3,
        Injection::LatchError {
            csr: 0x8123_4567,
            plssr: 0x89ab_cdef,
        },
    )
    .unwrap();
    c.inject(3, Injection::ErrorRegs(ErrorRegs::parse("5:6:7").unwrap()))
        .unwrap();
    readq(&mut c, regs::split_queue(0));
    let bytes = c.save();
    let mut d = calioc2();
    d.restore(&bytes).unwrap();
    for p in 0..4 {
        assert_eq!(d.injections(p), c.injections(p), "phb {p}");
        assert_eq!(d.inject_stats(p), c.inject_stats(p), "phb {p}");
        assert_eq!(d.error_regs(p), c.error_regs(p), "phb {p}");
    }
    assert_eq!(d.phb_csr(3), 0x8123_4567);
    assert_eq!(d.phb_plssr(3), 0x89ab_cdef);
    assert_eq!(armed(&d, 0).split_busy, 149);
    // They fire on the destination.
    let b = calgary_like_poll(&mut d, 0);
    assert_eq!(b, 100);
    assert_eq!(d.save(), {
        let mut e = calioc2();
        e.restore(&d.save()).unwrap();
        e.save()
    });
    // The injected latch still refuses a second one, and clears on write 0.
    assert_eq!(
        d.inject(3, Injection::LatchError { csr: 1, plssr: 0 }),
        Err(InjectError::ErrorAlreadyLatched)
    );
    writel(&mut d, regs::phb_reg(3, regs::PHB_CSR_OFFSET), 0);
    assert_eq!(d.phb_csr(3), 0);
}

fn calgary_like_poll(c: &mut Chip, p: usize) -> u32 {
    let mut i = 0;
    while i < 100 {
        i += 1;
        if readq_raw_x86(c, regs::split_queue(p)) & 0xff == 0xff {
            break;
        }
    }
    i
}

/// Size of the v2 injection trailer: 4 PHBs × (3 u32, u8, u16, 6 u64).
const TRAILER: usize = 4 * (12 + 1 + 2 + 8 * 6);

#[test]
fn version_1_snapshots_still_load_with_nothing_armed() {
    let mem = VecMem::new(1 << 22);
    let mut c = calgary();
    enable(&mut c, 1, TABLE, 0);
    dma(&mut c, 1, 0x40_0000, Direction::Write, &mem).unwrap_err();
    let mut v1 = c.save();
    assert_eq!(u16::from_le_bytes([v1[8], v1[9]]), SNAPSHOT_VERSION);
    v1.truncate(v1.len() - TRAILER);
    v1[8..10].copy_from_slice(&1u16.to_le_bytes());
    let mut d = calgary();
    d.inject(0, Injection::SplitBusy(9)).unwrap();
    d.restore(&v1).unwrap();
    assert_eq!(armed(&d, 0), InjectState::default());
    assert_eq!(d.phb_csr(1), c.phb_csr(1));
    assert_eq!(d.latched_fault(1), c.latched_fault(1));
    // A v1 stream with a trailer, or v2 without one, is rejected.
    let mut bad = c.save();
    bad[8..10].copy_from_slice(&1u16.to_le_bytes());
    assert_eq!(d.restore(&bad), Err(SnapshotError::TrailingBytes));
    assert_eq!(
        d.restore(&c.save()[..c.save().len() - TRAILER]),
        Err(SnapshotError::Truncated)
    );
}

#[test]
fn snapshot_rejects_inconsistent_injection_state() {
    let mut c = calgary();
    c.inject(
        0,
        Injection::LatchError {
            csr: 0x8000_0001,
            plssr: 0,
        },
    )
    .unwrap();
    let good = c.save();
    let flag_at = good.len() - TRAILER + 12;
    assert_eq!(good[flag_at], 1);
    let mut bad = good.clone();
    bad[flag_at] = 2;
    let mut d = calgary();
    assert_eq!(
        d.restore(&bad),
        Err(SnapshotError::InvalidField("injected error flag"))
    );
    // Flag cleared but CSR set: a CSR without any latched error.
    let mut bad = good.clone();
    bad[flag_at] = 0;
    assert_eq!(
        d.restore(&bad),
        Err(SnapshotError::InvalidField("CSR set without latched fault"))
    );
    // Flag set on a PHB whose CSR is 0.
    let mut bad = good.clone();
    bad[flag_at + (12 + 1 + 2 + 48)] = 1;
    assert_eq!(
        d.restore(&bad),
        Err(SnapshotError::InvalidField("injected error with CSR 0"))
    );
    assert_eq!(d.save(), calgary().save(), "failed restores change nothing");
    d.restore(&good).unwrap();
    assert_eq!(d.phb_csr(0), 0x8000_0001);
}

#[test]
fn injection_kinds_have_names_and_descriptions() {
    let all = [
        Injection::SplitBusy(1),
        Injection::SoftStopFault(1),
        Injection::TceFetchFail(1),
        Injection::LatchError { csr: 1, plssr: 2 },
        Injection::ErrorRegs(ErrorRegs::default()),
    ];
    let kinds: Vec<&str> = all.iter().map(|i| i.kind()).collect();
    assert_eq!(
        kinds,
        [
            "split-busy",
            "softstop-fault",
            "tce-fetch-fail",
            "error",
            "error-regs"
        ]
    );
    assert!(Injection::LatchError {
        csr: 0x80000000,
        plssr: 0x10
    }
    .to_string()
    .contains("0x80000000@CSR 0x00000010@PLSSR"));
}
