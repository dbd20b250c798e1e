//! Fault injection is traced: every request and every fired fault is a
//! `log` record under `calgary::inject` (QEMU: the `calgary_event` trace
//! event).
#![allow(clippy::unwrap_used, clippy::indexing_slicing, clippy::panic)]
mod common;

use std::cell::RefCell;

use calgary_core::inject::Injection;
use calgary_core::{diag, regs, CachePolicy, Direction, Variant};
use common::*;
use log::{Level, LevelFilter, Log, Metadata, Record};

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

fn injected() -> Vec<(Level, String)> {
    RECORDS.with(|v| {
        v.borrow()
            .iter()
            .filter(|(_, t, _)| t == diag::INJECT)
            .map(|(l, _, m)| (*l, m.clone()))
            .collect()
    })
}

#[test]
fn requests_and_fired_faults_are_traced() {
    let _ = log::set_logger(&CAPTURE);
    log::set_max_level(LevelFilter::Trace);
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
    let recs = injected();
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
