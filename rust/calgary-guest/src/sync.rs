//! Sync points with the runner (`CALGARY-SYNC` / `calgary-ack`).

use crate::*;

pub(crate) static SYNC_RX: OnceLock<Mutex<mpsc::Receiver<String>>> = OnceLock::new();

/// Hand the runner a point in time: print `CALGARY-SYNC <tag>` and wait
/// (bounded) until it answers `calgary-ack <tag>` on the console, after it
/// has read the device model's counters over QMP. Only with
/// `calgary.sync=1` (boot.py sets it).
pub(crate) fn sync_point(cfg: &Config, tag: &str) -> Result<(), String> {
    if cfg.get("sync") != Some("1") {
        return Err("no runner on the console (calgary.sync=1 not given)".into());
    }
    let rx = console_rx();
    let rx = rx.lock().map_err(|_| "sync channel poisoned".to_string())?;
    let want = format!("calgary-ack {tag}");
    let t0 = Instant::now();
    // Announce again now and then: a kernel message may have garbled the
    // console line (the runner acknowledges every announcement).
    while t0.elapsed() < Duration::from_secs(60) {
        println!("CALGARY-SYNC {tag}");
        let _ = std::io::stdout().flush();
        let until = Instant::now() + Duration::from_secs(15);
        loop {
            let left = until.saturating_duration_since(Instant::now());
            if left.is_zero() {
                break;
            }
            match rx.recv_timeout(left) {
                Ok(l) if l.ends_with(&want) => return Ok(()),
                Ok(_) => continue,
                Err(mpsc::RecvTimeoutError::Timeout) => break,
                Err(mpsc::RecvTimeoutError::Disconnected) => {
                    return Err("console input closed".into())
                }
            }
        }
    }
    Err(format!("no '{want}' from the runner within 60 s"))
}

/// Whether the runner wrote a line ending in `word` on the console since
/// the last look (without waiting). Only with `calgary.sync=1`.
pub(crate) fn console_says(cfg: &Config, word: &str) -> bool {
    if cfg.get("sync") != Some("1") {
        return false;
    }
    let Ok(rx) = console_rx().lock() else {
        return false;
    };
    let mut seen = false;
    while let Ok(l) = rx.try_recv() {
        seen |= l.ends_with(word);
    }
    seen
}

/// The console's input lines, read by one thread for the whole run.
fn console_rx() -> &'static Mutex<mpsc::Receiver<String>> {
    SYNC_RX.get_or_init(|| {
        let (tx, rx) = mpsc::channel();
        std::thread::spawn(move || {
            let stdin = std::io::stdin();
            let mut line = String::new();
            loop {
                line.clear();
                match stdin.lock().read_line(&mut line) {
                    Ok(0) | Err(_) => break,
                    Ok(_) => {
                        if tx.send(line.trim().to_string()).is_err() {
                            break;
                        }
                    }
                }
            }
        });
        Mutex::new(rx)
    })
}
