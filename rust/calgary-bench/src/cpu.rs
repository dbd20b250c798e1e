//! Guest CPU use from /proc/stat.

/// One /proc/stat "cpu" sample: (busy, total) jiffies.
pub fn sample() -> (u64, u64) {
    let s = std::fs::read_to_string("/proc/stat").unwrap_or_default();
    parse(s.lines().next().unwrap_or(""))
}

fn parse(line: &str) -> (u64, u64) {
    let v: Vec<u64> = line
        .split_whitespace()
        .skip(1)
        .filter_map(|x| x.parse().ok())
        .collect();
    let total: u64 = v.iter().take(8).sum();
    let idle = v.get(3).copied().unwrap_or(0) + v.get(4).copied().unwrap_or(0);
    (total.saturating_sub(idle), total)
}

/// Busy fraction between two samples.
pub fn busy_between(a: (u64, u64), b: (u64, u64)) -> f64 {
    b.0.saturating_sub(a.0) as f64 / b.1.saturating_sub(a.1).max(1) as f64
}

pub fn line() -> String {
    let (b, t) = sample();
    format!("busy={b} total={t}")
}

#[cfg(test)]
mod tests {
    use super::*;
    #[test]
    fn busy_excludes_idle_and_iowait() {
        assert_eq!(parse("cpu  10 2 8 70 10 0 0 0 0 0"), (20, 100));
        assert_eq!(parse(""), (0, 0));
        assert!((busy_between((20, 100), (50, 150)) - 0.6).abs() < 1e-9);
    }
}
