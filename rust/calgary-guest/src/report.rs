//! The report: one `CALGARY-CHECK name PASS|FAIL|SKIP reason` line per check.

use crate::*;

pub(crate) struct Report {
    pub(crate) fails: usize,
    pub(crate) passes: usize,
    pub(crate) skips: usize,
    /// Prepended to every check name (`kdump-` in the capture kernel).
    pub(crate) prefix: String,
    /// A capture kernel is loaded: crash after the report (kdump).
    pub(crate) crash_next: bool,
}

impl Report {
    pub(crate) fn line(&mut self, name: &str, status: &str, reason: &str) {
        match status {
            "PASS" => self.passes += 1,
            "FAIL" => self.fails += 1,
            _ => self.skips += 1,
        }
        let reason = reason.replace('\n', " | ");
        println!("CALGARY-CHECK {}{name} {status} {reason}", self.prefix);
        let _ = std::io::stdout().flush();
    }
    pub(crate) fn pass(&mut self, n: &str, r: &str) {
        self.line(n, "PASS", r)
    }
    pub(crate) fn fail(&mut self, n: &str, r: &str) {
        self.line(n, "FAIL", r)
    }
    pub(crate) fn skip(&mut self, n: &str, r: &str) {
        self.line(n, "SKIP", r)
    }
    pub(crate) fn result(&mut self, n: &str, r: Result<String, String>) -> bool {
        match r {
            Ok(m) => {
                self.pass(n, &m);
                true
            }
            Err(m) => {
                self.fail(n, &m);
                false
            }
        }
    }
}

pub(crate) fn info(s: &str) {
    println!("CALGARY-INFO {s}");
    let _ = std::io::stdout().flush();
}
