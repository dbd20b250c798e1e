//! The host's own speed over a window: a fixed mix of memory copies and
//! integer work, run for the window's length on the CPU the vCPU thread
//! uses. Its rate varies only with the host (frequency, caches and memory
//! shared with other tenants), so the spread of these windows over a run is
//! the floor below which no cell of that run can be expected to go.

use calgary_bench::cli::{float, next, number, unexpected};
use lexopt::{Arg, Parser};
use std::hint::black_box;
use std::time::{Duration, Instant};

/// One round: `chunk` bytes copied twice and some integer mixing. Returns
/// a value derived from the work so it cannot be optimised away.
fn round(a: &mut [u8], b: &mut [u8], chunk: usize, at: usize, x: u64) -> u64 {
    let n = a.len();
    let lo = at % n.saturating_sub(chunk).max(1);
    let hi = (lo + chunk).min(n);
    b[lo..hi].copy_from_slice(&a[lo..hi]);
    a[lo..hi].copy_from_slice(&b[lo..hi]);
    let mut x = x;
    for _ in 0..4096 {
        x = x
            .wrapping_mul(6364136223846793005)
            .wrapping_add(1442695040888963407);
    }
    x ^ u64::from(b[lo])
}

/// Rounds completed in `window` with buffers of `bytes` each.
pub fn rounds_in(window: Duration, bytes: usize) -> u64 {
    let bytes = bytes.max(1 << 16);
    let mut a = vec![1u8; bytes];
    let mut b = vec![2u8; bytes];
    let chunk = 64 << 10;
    let t0 = Instant::now();
    let (mut n, mut at, mut x) = (0u64, 0usize, 1u64);
    while t0.elapsed() < window {
        x = round(&mut a, &mut b, chunk, at, x);
        at = at.wrapping_add(chunk * 7 + 4096);
        n += 1;
    }
    black_box(x);
    n
}

pub fn run(mut p: Parser) -> Result<(), String> {
    let (mut secs, mut mib) = (3.0f64, 64u64);
    while let Some(a) = next(&mut p)? {
        match a {
            Arg::Long("secs") => secs = float(&mut p, "secs")?,
            Arg::Long("mib") => mib = number(&mut p, "mib")?,
            a => return Err(unexpected(a)),
        }
    }
    if !(0.01..=3600.0).contains(&secs) || !(1..=4096).contains(&mib) {
        return Err("--secs 0.01..3600, --mib 1..4096".into());
    }
    let t0 = Instant::now();
    let n = rounds_in(Duration::from_secs_f64(secs), (mib as usize) << 20);
    let el = t0.elapsed().as_secs_f64();
    println!("CAL rounds={n} secs={el:.3} rate={:.1}", n as f64 / el);
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_window_does_work_and_stops() {
        let t0 = Instant::now();
        let n = rounds_in(Duration::from_millis(30), 1 << 20);
        assert!(n > 0);
        assert!(t0.elapsed() < Duration::from_secs(5));
    }

    #[test]
    fn a_round_touches_the_buffers_in_range() {
        let (mut a, mut b) = (vec![7u8; 100_000], vec![0u8; 100_000]);
        round(&mut a, &mut b, 65536, 99_999, 1);
        assert_eq!(b.iter().filter(|&&v| v == 7).count(), 65536);
    }
}
