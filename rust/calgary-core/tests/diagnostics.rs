//! The model's diagnostics (`calgary_core::diag`): which guest actions
//! produce a `log` record, under which target, and that a DMA that
//! translates produces none.
#![allow(clippy::unwrap_used, clippy::indexing_slicing, clippy::panic)]
mod common;

use std::cell::RefCell;

use calgary_core::inject::Injection;
use calgary_core::{diag, regs, CachePolicy, Direction, Variant};
use common::*;
use log::{Level, LevelFilter, Log, Metadata, Record};

/// Records of the current thread (each test runs on its own thread, and the
/// model logs on the caller's thread).
struct Capture;

thread_local! {
    static RECORDS: RefCell<Vec<(Level, String, String)>> = const { RefCell::new(Vec::new()) };
}

impl Log for Capture {
    fn enabled(&self, _: &Metadata<'_>) -> bool {
        true
    }
    fn log(&self, r: &Record<'_>) {
        RECORDS.with(|v| {
            v.borrow_mut()
                .push((r.level(), r.target().to_string(), r.args().to_string()))
        });
    }
    fn flush(&self) {}
}

static CAPTURE: Capture = Capture;

fn start() {
    // Every test installs the same logger; only the first call succeeds.
    let _ = log::set_logger(&CAPTURE);
    log::set_max_level(LevelFilter::Trace);
    RECORDS.with(|v| v.borrow_mut().clear());
}

fn take(target: &str) -> Vec<(Level, String)> {
    RECORDS.with(|v| {
        v.borrow()
            .iter()
            .filter(|(_, t, _)| t == target)
            .map(|(l, _, m)| (*l, m.clone()))
            .collect()
    })
}

fn clear() {
    RECORDS.with(|v| v.borrow_mut().clear());
}

const TABLE: u64 = 0x10_0000;

#[test]
fn write_to_read_only_register_is_a_guest_error_naming_it() {
    start();
    let mut c = calgary();
    let off = regs::phb_reg(1, regs::PHB_CSMR);
    c.mmio_write(off, 4, 0x1234);
    let recs = take(diag::GUEST_ERROR);
    assert_eq!(recs.len(), 1, "{recs:?}");
    assert_eq!(recs[0].0, Level::Warn);
    let msg = &recs[0].1;
    assert!(msg.contains("calgary@0xfef00000"), "{msg}");
    assert!(msg.contains("write to read-only register"), "{msg}");
    assert!(msg.contains(&format!("{off:#x}")), "{msg}");
    assert!(msg.contains("CSMR of PHB 1"), "{msg}");
}

#[test]
fn unknown_offset_and_bad_width_are_guest_errors() {
    start();
    let mut c = calgary();
    // PAGE_MIG_CTRL does not exist on Calgary (CalIOC2 only).
    let pmcr = regs::phb_reg(0, regs::PHB_PAGE_MIG_CTRL);
    let (v, _) = c.mmio_read(pmcr, 4);
    assert_eq!(v, 0);
    // A 2-byte read of a 32-bit register.
    c.mmio_read(regs::phb_reg(0, regs::PHB_CSR_OFFSET), 2);
    let recs = take(diag::GUEST_ERROR);
    assert_eq!(recs.len(), 2, "{recs:?}");
    assert!(recs[0].1.contains("unknown register offset"), "{recs:?}");
    assert!(recs[0].1.contains(&format!("{pmcr:#x}")), "{recs:?}");
    assert!(recs[1].1.contains("bad access width"), "{recs:?}");
    assert!(recs[1].1.contains("CSR of PHB 0"), "{recs:?}");
}

#[test]
fn side_effect_free_peek_logs_nothing() {
    start();
    let c = calgary();
    assert_eq!(c.mmio_peek(0xF_FFF0, 4), None);
    assert!(take(diag::GUEST_ERROR).is_empty());
}

#[test]
fn blocked_dma_logs_once_per_latched_error() {
    start();
    let mut c = chip(Variant::Calgary, CachePolicy::Faithful);
    let mem = VecMem::new(1 << 22);
    enable(&mut c, 2, TABLE, 0);
    clear();
    // Page 0x300 unmapped: the first blocked DMA latches CSR and logs.
    dma(&mut c, 2, 0x30_0000, Direction::Write, &mem).unwrap_err();
    let recs = take(diag::GUEST_ERROR);
    assert_eq!(recs.len(), 1, "{recs:?}");
    let msg = &recs[0].1;
    assert!(msg.contains("PHB 2 blocked DMA write"), "{msg}");
    assert!(msg.contains("IO address 0x300000"), "{msg}");
    assert!(
        msg.contains(&format!("{:#010x}", c.phb_csr(2))),
        "CSR value in {msg}"
    );
    // Further blocked DMAs while the error stays latched: no new record.
    dma(&mut c, 2, 0x40_0000, Direction::Read, &mem).unwrap_err();
    dma(&mut c, 2, 0x30_0000, Direction::Write, &mem).unwrap_err();
    assert_eq!(take(diag::GUEST_ERROR).len(), 1);
    // The guest clears CSR (Linux's watchdog): the next block logs again.
    writel(&mut c, regs::phb_reg(2, regs::PHB_CSR_OFFSET), 0);
    dma(&mut c, 2, 0x40_0000, Direction::Read, &mem).unwrap_err();
    let recs = take(diag::GUEST_ERROR);
    assert_eq!(recs.len(), 2, "{recs:?}");
    assert!(recs[1].1.contains("blocked DMA read"), "{recs:?}");
}

#[test]
fn translated_dma_emits_no_record() {
    start();
    let mut c = chip(Variant::Calgary, CachePolicy::Faithful);
    let mem = VecMem::new(1 << 22);
    enable(&mut c, 0, TABLE, 0);
    map(&mem, TABLE, 0x200, 0x5000, false);
    clear();
    for _ in 0..3 {
        dma(&mut c, 0, 0x20_0123, Direction::Read, &mem).unwrap();
        dma(&mut c, 0, 0x20_0123, Direction::Write, &mem).unwrap();
    }
    // Translation off (bypass) and the legacy window: no record either.
    dma(&mut c, 1, 0x1234_5000, Direction::Read, &mem).unwrap();
    dma(&mut c, 0, 0xA_0000, Direction::Read, &mem).unwrap();
    RECORDS.with(|v| assert!(v.borrow().is_empty(), "{:?}", v.borrow()));
}

#[test]
fn writes_to_unemulated_functions_go_to_unimp() {
    start();
    let mut c = calgary();
    writeq(&mut c, regs::CALGARY_CONFIG, 0xE << 40);
    let recs = take(diag::UNIMP);
    assert_eq!(recs.len(), 1, "{recs:?}");
    assert!(recs[0].1.contains("CALGARY_CONFIG written"), "{recs:?}");
    // Writing the value it already holds changes nothing: no record.
    clear();
    writeq(&mut c, regs::CALGARY_CONFIG, 0xE << 40);
    assert!(take(diag::UNIMP).is_empty());

    // PHB_CONFIG_RW: TCE_ENABLE is emulated, DAC_DISABLE only stored.
    let off = regs::phb_reg(3, regs::PHB_CONFIG_RW_OFFSET);
    let v = readl(&mut c, off);
    writel(&mut c, off, v | regs::PHB_TCE_ENABLE);
    assert!(take(diag::UNIMP).is_empty());
    writel(
        &mut c,
        off,
        v | regs::PHB_TCE_ENABLE | regs::PHB_DAC_DISABLE,
    );
    let recs = take(diag::UNIMP);
    assert_eq!(recs.len(), 1, "{recs:?}");
    assert!(recs[0].1.contains("PHB 3 PHB_CONFIG_RW"), "{recs:?}");
    assert!(recs[0].1.contains("DAC_DISABLE"), "{recs:?}");

    // MEM_1 is emulated (an untranslated window): no record.
    clear();
    writel(&mut c, regs::phb_reg(0, regs::PHB_MEM_1_LOW), 0xD000_0000);
    assert!(take(diag::UNIMP).is_empty());
    // Nothing of this is a guest error.
    assert!(take(diag::GUEST_ERROR).is_empty());
}

#[test]
fn reset_is_a_model_record() {
    start();
    let mut c = calgary();
    c.reset();
    let recs = take(diag::MODEL);
    assert_eq!(recs.len(), 1, "{recs:?}");
    assert_eq!(recs[0].0, Level::Debug);
    assert!(recs[0].1.contains("reset"), "{recs:?}");
}

#[test]
fn a_named_chip_uses_its_name() {
    start();
    let mut c = calgary();
    c.set_name("calgary2");
    c.mmio_read(0xF_FFF0, 4);
    let recs = take(diag::GUEST_ERROR);
    assert_eq!(recs.len(), 1, "{recs:?}");
    assert!(recs[0].1.starts_with("calgary2: "), "{recs:?}");
    // The name is not guest state: a snapshot restore keeps it.
    let snap = c.save();
    c.restore(&snap).unwrap();
    clear();
    c.mmio_read(0xF_FFF0, 4);
    assert!(take(diag::GUEST_ERROR)[0].1.starts_with("calgary2: "));
}

#[test]
/// Fault injection is traced: every request and every fired fault is a
/// record under `calgary::inject` (QEMU: the `calgary_event` trace event).
fn injection_requests_and_fired_faults_are_traced() {
    start();
    let mem = VecMem::new(1 << 22);
    let mut c = chip(Variant::CalIoc2, CachePolicy::Off);
    c.set_name("calgary7");
    c.inject(1, Injection::SplitBusy(1)).unwrap();
    c.inject(2, Injection::SoftStopFault(1)).unwrap();
    c.inject(0, Injection::TceFetchFail(1)).unwrap();
    c.inject(
        3,
        Injection::LatchError {
            csr: 0x8000_0001,
            plssr: 7,
        },
    )
    .unwrap();
    readq(&mut c, regs::split_queue(1));
    writel(
        &mut c,
        regs::phb_reg(2, regs::PHB_PAGE_MIG_CTRL),
        regs::PMR_SOFTSTOP,
    );
    readl(&mut c, regs::phb_reg(2, regs::PHB_PAGE_MIG_DEBUG));
    enable(&mut c, 0, 0x10_0000, 0);
    map(&mem, 0x10_0000, 0x300, 0x20_0000, false);
    dma(&mut c, 0, 0x300 << 12, Direction::Read, &mem).unwrap_err();
    let recs = take(diag::INJECT);
    let text: Vec<&str> = recs.iter().map(|(_, m)| m.as_str()).collect();
    let want = [
        "calgary7: PHB 1 inject split-busy: split queue busy for the next 1 status reads",
        "calgary7: PHB 2 inject softstop-fault: SoftStopFault for the next 1 cache blast attempts",
        "calgary7: PHB 0 inject tce-fetch-fail: the next 1 TCE fetches fail",
        "calgary7: PHB 3 inject error: latch 0x80000001@CSR 0x00000007@PLSSR",
        "calgary7: PHB 1 injected SPLIT_QUEUE_STATUS read 0x0",
        "calgary7: PHB 2 injected PAGE_MIG_DEBUG read 0x40000000",
        "calgary7: PHB 0 injected TCE fetch failure: DMA by 10:01.0 at IO address 0x300000 blocked",
    ];
    assert_eq!(text, want);
    assert!(recs[..4].iter().all(|(l, _)| *l == Level::Info));
    assert_eq!(
        (recs[4].0, recs[5].0, recs[6].0),
        (Level::Debug, Level::Debug, Level::Info)
    );
}
