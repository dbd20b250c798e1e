//! The measured window of a workload: warm-up, then one interval bracketed
//! by the host's sampling line (`BENCH-MEASURE`) and the TCG plugin's marks
//! (rust/calgary-plugin counts guest instructions between them), run by one
//! or several threads that all start and stop together.

use crate::cpu;
use std::io::Write;
use std::sync::{Barrier, Mutex};
use std::time::{Duration, Instant};

/// The plugin's BEGIN mark, `xchg %bx,%bx`: no effect on any register or flag.
#[inline(never)]
pub fn mark_begin() {
    // SAFETY: exchanges a register with itself; touches no memory or stack.
    #[cfg(target_arch = "x86_64")]
    unsafe {
        std::arch::asm!(
            ".byte 0x66, 0x87, 0xdb",
            options(nomem, nostack, preserves_flags)
        );
    }
}

/// The plugin's END mark, `xchg %cx,%cx`.
#[inline(never)]
pub fn mark_end() {
    // SAFETY: as `mark_begin`.
    #[cfg(target_arch = "x86_64")]
    unsafe {
        std::arch::asm!(
            ".byte 0x66, 0x87, 0xc9",
            options(nomem, nostack, preserves_flags)
        );
    }
}

/// What one thread did in the window: bytes moved and operations.
#[derive(Debug, Default, Clone, Copy, PartialEq)]
pub struct Work {
    pub bytes: u64,
    pub ops: u64,
}

/// A finished window: the work of all threads, its length and the guest's busy fraction.
#[derive(Debug, Clone, Copy)]
pub struct Window {
    pub work: Work,
    pub secs: f64,
    pub busy: f64,
}

/// Run `threads` copies of a workload for `secs`: each first `prepare`s
/// (connect, open) its state, then all start at once and `run` until the
/// shared deadline. With `measured`, the window is announced on the console
/// and bracketed by the plugin marks (after every thread is prepared, so
/// connection setup is outside it).
pub fn window<S, P, R>(
    threads: usize,
    secs: f64,
    measured: bool,
    prepare: P,
    run: R,
) -> Result<Window, String>
where
    S: Send,
    P: Fn(usize) -> Result<S, String> + Sync,
    R: Fn(usize, S, Instant) -> Result<Work, String> + Sync,
{
    let n = threads.max(1);
    let ready = Barrier::new(n + 1);
    let go = Barrier::new(n + 1);
    let deadline: Mutex<Option<Instant>> = Mutex::new(None);
    std::thread::scope(|sc| {
        let handles: Vec<_> = (0..n)
            .map(|i| {
                let (ready, go, deadline, prepare, run) = (&ready, &go, &deadline, &prepare, &run);
                sc.spawn(move || {
                    // Every thread reaches both barriers, even after an error,
                    // so the others never wait forever.
                    let st = prepare(i);
                    ready.wait();
                    go.wait();
                    let end = deadline.lock().ok().and_then(|d| *d);
                    match (st, end) {
                        (Ok(s), Some(end)) => run(i, s, end),
                        (Err(e), _) => Err(e),
                        (_, None) => Err("no deadline".into()),
                    }
                })
            })
            .collect();
        ready.wait();
        if measured {
            println!("BENCH-MEASURE");
            let _ = std::io::stdout().flush();
            mark_begin();
        }
        let c0 = cpu::sample();
        let t0 = Instant::now();
        if let Ok(mut d) = deadline.lock() {
            *d = Some(t0 + Duration::from_secs_f64(secs.max(0.0)));
        }
        go.wait();
        let mut total = Work::default();
        let mut err = None;
        for h in handles {
            match h.join() {
                Ok(Ok(w)) => {
                    total.bytes += w.bytes;
                    total.ops += w.ops;
                }
                Ok(Err(e)) => err = Some(e),
                Err(_) => err = Some("a workload thread panicked".into()),
            }
        }
        let el = t0.elapsed().as_secs_f64();
        if measured {
            mark_end();
        }
        let busy = cpu::busy_between(c0, cpu::sample());
        match err {
            Some(e) => Err(e),
            None => Ok(Window {
                work: total,
                secs: el,
                busy,
            }),
        }
    })
}

/// The result line the host parses.
pub fn report(kind: &str, mode: &str, size: usize, threads: usize, w: &Window) -> String {
    let el = w.secs.max(1e-9);
    format!(
        "BENCH-RESULT kind={kind} mode={mode} size={size} threads={threads} secs={:.3} bytes={} mbps={:.3} tps={:.1} cpu={:.4}",
        w.secs,
        w.work.bytes,
        w.work.bytes as f64 * 8.0 / el / 1e6,
        w.work.ops as f64 / el,
        w.busy
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn threads_share_one_deadline_and_sum() {
        let w = window(
            3,
            0.05,
            false,
            |i| Ok(i as u64 + 1),
            |_, s, end| {
                let mut ops = 0;
                while Instant::now() < end {
                    ops += 1;
                    std::thread::sleep(Duration::from_millis(5));
                }
                Ok(Work { bytes: s * 10, ops })
            },
        )
        .expect("window");
        assert_eq!(w.work.bytes, 60);
        assert!(w.work.ops >= 3, "every thread ran until the deadline");
        assert!(w.secs >= 0.05);
    }

    #[test]
    fn an_error_in_one_thread_fails_the_window_without_a_hang() {
        let r = window(
            2,
            0.01,
            false,
            |i| {
                if i == 1 {
                    Err("cannot open".to_string())
                } else {
                    Ok(())
                }
            },
            |_, _, _| Ok(Work::default()),
        );
        assert_eq!(r.unwrap_err(), "cannot open");
    }

    #[test]
    fn marks_are_harmless_and_report_is_parsable() {
        mark_begin();
        mark_end();
        let w = Window {
            work: Work {
                bytes: 1_000_000,
                ops: 10,
            },
            secs: 2.0,
            busy: 0.5,
        };
        let l = report("blk", "read", 4096, 2, &w);
        assert!(l.starts_with("BENCH-RESULT kind=blk mode=read size=4096 threads=2 secs=2.000 bytes=1000000 mbps=4.000 tps=5.0"));
    }
}
