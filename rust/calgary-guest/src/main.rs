//! calgary-guest: in-guest validation tool for the emulated IBM Calgary IOMMU.
//!
//! Runs as part of the test initramfs (see guest-images/). Prints one line
//! per check, `CALGARY-CHECK <name> PASS|FAIL|SKIP <reason>`, and a final
//! `CALGARY-DONE` line. Parameters come from the kernel command line
//! (`calgary.suite=`, `calgary.cache=`, ...) and may be overridden by
//! `key=value` arguments.
//!
//! Suites:
//! - `default`: for a kernel without a Calgary driver (Debian's). The tool
//!   plays the driver: finds the Rio table and PHBs like Linux, programs TAR
//!   and TCEs in memory the command line reserved (`memmap=`), drives `edu`
//!   for mapped/unmapped/read-only/out-of-range/slot-disabled/stale-TCE DMA,
//!   then pre-maps everything (identity TCE table) on the PHBs of e1000,
//!   virtio-net and nvme and exercises the kernel's own drivers.
//! - `kernel`: for a kernel WITH the Calgary driver: checks its messages
//!   (spec §6) and register state, the devices, and an errant edu DMA that
//!   the driver's watchdog must catch.
//! - `migrate`: rounds of verified virtio-blk and NIC traffic through the
//!   kernel's driver while the runner live-migrates the machine
//!   (hw-tests/guest/migrate_load.py).
//! - `smp`: the `kernel` suite, then nvme, two NICs and edu on the four
//!   PHBs driven at once from four vCPUs (suite_smp.rs; boot.py --suite smp).
//! - `probe`: print `CALGARY-PROBE ok` (accelerator probe).

mod calgary;
mod config;
mod devices;
mod discovery;
mod mem;
mod pci;
mod report;
mod suite_capture;
mod suite_default;
mod suite_edu;
mod suite_inject;
mod suite_kernel;
mod suite_migrate;
mod suite_smp;
mod suite_wrap;
mod sync;
mod sys;
mod util;

use calgary::{Chip, Phb};
use calgary_core::regs::{
    self, CSR_AGENT_MASK as CSR_ERR_MASK, PHB_SLOT_DISABLE as SLOT_DISABLE,
    PHB_TCE_ENABLE as TCE_ENABLE, TCE_READ, TCE_WRITE,
};
use calgary_core::{layout, Variant, PHBS_PER_CHIP};
use calgary_devmem::{premap as devmem_premap, Mapping};
use config::*;
use devices::*;
use discovery::*;
use mem::*;
use pci::{Edu, PciDev};
use report::*;
use std::collections::BTreeMap;
use std::fs;
use std::io::{BufRead, Read, Write};
use std::process::{Command, Stdio};
use std::sync::{mpsc, Mutex, OnceLock};
use std::time::{Duration, Instant};
use suite_capture::*;
use suite_default::*;
use suite_edu::*;
use suite_inject::*;
use suite_kernel::*;
use suite_migrate::*;
use suite_smp::*;
use suite_wrap::*;
use sync::*;
use util::*;

fn main() {
    // RUST_LOG=debug on the kernel command line reaches us through init's environment.
    env_logger::init();
    let cfg = Config::load();
    let suite = cfg.get_or("suite", "default").to_string();
    info(&format!(
        "calgary-guest {} suite={suite} cache={} kernel={}",
        env!("CARGO_PKG_VERSION"),
        cfg.get_or("cache", "unknown"),
        fs::read_to_string("/proc/sys/kernel/osrelease")
            .unwrap_or_default()
            .trim()
    ));
    let mut r = Report {
        fails: 0,
        passes: 0,
        skips: 0,
        prefix: String::new(),
        crash_next: false,
    };
    let t0 = Instant::now();
    match suite.as_str() {
        "probe" => {
            println!("CALGARY-PROBE ok");
        }
        "default" => suite_default(&mut r, &cfg),
        "kernel" => suite_kernel(&mut r, &cfg),
        "smp" => suite_smp(&mut r, &cfg),
        "capture" => suite_capture(&mut r, &cfg),
        "migrate" => suite_migrate(&mut r, &cfg),
        other => r.fail("suite", &format!("unknown suite '{other}'")),
    }
    println!(
        "CALGARY-DONE pass={} fail={} skip={} secs={:.1}{}",
        r.passes,
        r.fails,
        r.skips,
        t0.elapsed().as_secs_f64(),
        if r.crash_next { " next=kdump" } else { "" }
    );
    let _ = std::io::stdout().flush();
    if r.crash_next {
        kdump_crash();
    }
    std::process::exit(if r.fails > 0 { 1 } else { 0 });
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cfg(cmdline: &str) -> Config {
        Config {
            kv: BTreeMap::new(),
            cmdline: cmdline.to_string(),
        }
    }

    #[test]
    fn numbers() {
        assert_eq!(parse_num("64M"), Some(64 << 20));
        assert_eq!(parse_num("0x10000000"), Some(0x1000_0000));
        assert_eq!(parse_num("4k"), Some(4096));
        assert_eq!(parse_num("0x28"), Some(0x28));
        assert_eq!(parse_num("zz"), None);
    }

    #[test]
    fn args_file_tokens_override_the_command_line() {
        let mut kv = BTreeMap::new();
        add_tokens(
            &mut kv,
            "console=ttyS0 calgary=64k calgary.suite=default calgary.wrap=1",
        );
        add_tokens(
            &mut kv,
            "calgary.suite=kernel\ncalgary.layout=legacy calgary.bus0_phb=on junk\n",
        );
        assert_eq!(kv.get("suite").map(String::as_str), Some("kernel"));
        assert_eq!(kv.get("wrap").map(String::as_str), Some("1"));
        assert_eq!(kv.get("layout").map(String::as_str), Some("legacy"));
        assert_eq!(kv.get("bus0_phb").map(String::as_str), Some("on"));
        assert_eq!(kv.len(), 4, "{kv:?}");
    }

    #[test]
    fn enable_line_of_each_era() {
        let l = |v: &[&str]| v.iter().map(|s| s.to_string()).collect::<Vec<_>>();
        let new = l(&["Calgary: enabling translation on Calgary PHB 0x24"]);
        assert_eq!(
            enable_line(&new, "Calgary", 0x24),
            "enabling translation on Calgary PHB 0x24"
        );
        // 2.6.18: decimal bus; PHB 1 must not match PHB 11
        let old = l(&[
            "Calgary: enabling translation on PHB 11",
            "Calgary: enabling translation on PHB 0",
        ]);
        assert_eq!(
            enable_line(&old, "Calgary", 11),
            "Calgary: enabling translation on PHB 11"
        );
        assert_eq!(
            enable_line(&old, "Calgary", 0),
            "Calgary: enabling translation on PHB 0"
        );
        assert_eq!(
            enable_line(&old, "Calgary", 1),
            "enabling translation on Calgary PHB 0x1"
        );
    }

    #[test]
    fn reserved_region_from_memmap() {
        assert_eq!(
            cfg("console=ttyS0 memmap=64M$0x10000000 quiet").reserved(),
            Some((0x1000_0000, 64 << 20))
        );
        assert_eq!(
            cfg("memmap=4K$0x1000 memmap=32M$0x8000000").reserved(),
            Some((0x800_0000, 32 << 20))
        );
        assert_eq!(cfg("quiet").reserved(), None);
    }

    #[test]
    fn disk_pattern_matches_host_formula() {
        // boot.py: ((i * 2654435761 + seed) & 0xFFFFFFFF) >> 24, period 64 KiB
        let p = disk_pattern(24301, 65536 + 3);
        for i in [0usize, 1, 2, 1000, 65535] {
            let want = (((i as u64 * 2654435761 + 24301) & 0xFFFF_FFFF) >> 24) as u8;
            assert_eq!(p[i], want);
        }
        assert_eq!(p[65536..], p[..3]);
    }

    #[test]
    fn patterns_differ() {
        assert_ne!(pattern(1, 4096), pattern(2, 4096));
        assert!(pattern(1, 4096).iter().any(|b| *b != pattern(1, 1)[0]));
    }

    #[test]
    fn klog_prefixes_stripped() {
        let s = "<6>[    0.000000] Linux version 3.10.0\n<7>Calgary: detecting Calgary via BIOS EBDA area\n[   1.5] PCI-DMA: Using Calgary IOMMU\nplain line\n<4>[ bad] x\n";
        assert_eq!(
            parse_klog(s),
            vec![
                "Linux version 3.10.0",
                "Calgary: detecting Calgary via BIOS EBDA area",
                "PCI-DMA: Using Calgary IOMMU",
                "plain line",
                "[ bad] x"
            ]
        );
    }

    #[test]
    fn capture_cmdline_drops_first_kernel_switches() {
        let c = capture_cmdline(
            "console=ttyS0 iomem=relaxed memmap=64M$0x10000000 crashkernel=192M calgary=64k calgary.suite=kernel calgary.kdump=1 calgary.wrap=1 calgary.sync=1",
            "24:1e400001",
        );
        assert!(c.starts_with("console=ttyS0 iomem=relaxed calgary=64k calgary.sync=1 "));
        for gone in [
            "memmap=",
            "crashkernel=",
            "calgary.kdump=",
            "calgary.wrap=",
            "suite=kernel",
        ] {
            assert!(!c.contains(gone), "{gone} in {c}");
        }
        assert!(c.contains("calgary.sync=1 earlyprintk=serial,ttyS0,115200 calgary.suite=capture"));
        assert!(c.contains("calgary.suite=capture calgary.prev_tar=24:1e400001"));
        assert!(c.ends_with("irqpoll maxcpus=1 reset_devices"));
        // No serial console, no early one; an early console given is kept as is.
        assert!(!capture_cmdline("console=tty0", "").contains("earlyprintk"));
        let kept = capture_cmdline("console=ttyS0 earlyprintk=vga", "");
        assert_eq!(kept.matches("earlyprintk").count(), 1);
    }

    #[test]
    fn prev_tar_list() {
        assert_eq!(
            parse_prev_tar("24:1e400000,34:1e480007"),
            vec![(0x24, 0x1e40_0000), (0x34, 0x1e48_0007)]
        );
        assert_eq!(parse_prev_tar(""), vec![]);
        assert_eq!(parse_prev_tar("zz:1,24"), vec![]);
    }

    #[test]
    fn csr_decode() {
        assert_eq!(csr_reason(0), "");
        assert!(csr_reason(0x8000_0000 | (4 << 27) | 0x0400_0000)
            .contains("TCE not valid (no permission), device write"));
    }
}
