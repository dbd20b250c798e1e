//! kdump: load the capture kernel, crash into it, and the `capture` suite
//! that checks the capture kernel reused the crashed kernel's TCE tables.

use crate::*;

pub(crate) const KDUMP_KERNEL: &str = "/kdump/vmlinuz";
pub(crate) const KDUMP_INITRD: &str = "/kdump/initrd.gz";

/// The capture kernel's command line: this one without the crash-kernel
/// reservation, the first kernel's suite switches and the `memmap=` test
/// region, plus the early serial console, what kdump needs and what the
/// capture suite checks against.
pub(crate) fn capture_cmdline(cmdline: &str, prev_tar: &str) -> String {
    let drop = |t: &str| {
        t.starts_with("crashkernel=")
            || t.starts_with("memmap=")
            || t.starts_with("calgary.suite=")
            || t.starts_with("calgary.kdump=")
            || t.starts_with("calgary.wrap=")
            || t.starts_with("calgary.disk_off=")
            || t.starts_with("calgary.disk_seed=")
            || t.starts_with("calgary.prev_tar=")
            || t.starts_with("BOOT_IMAGE=")
    };
    let mut v: Vec<&str> = cmdline.split_whitespace().filter(|t| !drop(t)).collect();
    // A capture kernel that dies before its console is up (2.6.32 with too
    // little RAM below 512 MiB for its early page tables) says why only on
    // the early console.
    if v.iter().any(|t| t.starts_with("console=ttyS0"))
        && !v.iter().any(|t| t.starts_with("earlyprintk="))
    {
        v.push("earlyprintk=serial,ttyS0,115200");
    }
    let tail = format!(
        "calgary.suite=capture calgary.prev_tar={prev_tar} calgary.disk_off=8M calgary.disk_seed={} irqpoll maxcpus=1 reset_devices",
        0x5EED + 1
    );
    v.push(&tail);
    v.join(" ")
}

/// Load the capture kernel (kexec -p) that `echo c > /proc/sysrq-trigger`
/// will start. Records the TARs the capture kernel must find again.
pub(crate) fn kdump_load(r: &mut Report, cfg: &Config, plat: &Platform) -> bool {
    let name = "kdump-load";
    let res = (|| -> Result<String, String> {
        let iomem = fs::read_to_string("/proc/iomem").unwrap_or_default();
        let crash = iomem
            .lines()
            .find(|l| l.contains("Crash kernel"))
            .map(|l| l.trim().to_string())
            .ok_or(
                "no 'Crash kernel' region in /proc/iomem: the crashkernel= reservation failed",
            )?;
        for f in [KDUMP_KERNEL, KDUMP_INITRD] {
            if !std::path::Path::new(f).exists() {
                return Err(format!(
                    "{f} missing from the initramfs (boot.py appends it)"
                ));
            }
        }
        let tars: Vec<String> = plat
            .phbs
            .iter()
            .filter_map(|p| {
                let c = plat.chip(p);
                let tar = c.tar(p.phb);
                (tar & regs::TAR_TABLE_ADDR_MASK != 0 && c.config(p.phb) & TCE_ENABLE != 0)
                    .then(|| format!("{:x}:{tar:x}", p.bus))
            })
            .collect();
        if tars.is_empty() {
            return Err("no translated PHB with a table in TAR".into());
        }
        let prev = tars.join(",");
        let cmdline = capture_cmdline(&cfg.cmdline, &prev);
        let append = format!("--append={cmdline}");
        let initrd = format!("--initrd={KDUMP_INITRD}");
        let (ok, out) = run(
            "kexec",
            &["-p", KDUMP_KERNEL, &initrd, &append],
            Duration::from_secs(120),
        );
        if !ok {
            return Err(format!("kexec -p {KDUMP_KERNEL} failed: {out}"));
        }
        let loaded = fs::read_to_string("/sys/kernel/kexec_crash_loaded")
            .map(|s| s.trim().to_string())
            .unwrap_or_else(|_| "n/a".into());
        if loaded == "0" {
            return Err(format!(
                "kexec -p succeeded but /sys/kernel/kexec_crash_loaded is 0 ({out})"
            ));
        }
        info(&format!("kdump capture cmdline: {cmdline}"));
        Ok(format!(
            "kexec -p {KDUMP_KERNEL} --initrd={KDUMP_INITRD} into {crash}; kexec_crash_loaded={loaded}; TARs handed over: {prev}"
        ))
    })();
    r.result(name, res)
}

/// Exit status that tells `/init` to exit, which panics the kernel
/// ("Attempted to kill init!") when there is no sysrq trigger.
pub(crate) const EXIT_KILL_INIT: i32 = 42;

pub(crate) fn kdump_crash() -> ! {
    let _ = run("sync", &[], Duration::from_secs(10));
    if std::path::Path::new("/proc/sysrq-trigger").exists() {
        println!("CALGARY-KDUMP crashing now (echo c > /proc/sysrq-trigger)");
        let _ = std::io::stdout().flush();
        let _ = fs::write("/proc/sysrq-trigger", "c");
        std::thread::sleep(Duration::from_secs(30));
        println!(
            "CALGARY-CHECK kdump-crash FAIL still running 30 s after echo c > /proc/sysrq-trigger"
        );
        println!("CALGARY-DONE pass=0 fail=1 skip=0 secs=30.0");
        let _ = std::io::stdout().flush();
        std::process::exit(1);
    }
    // CONFIG_MAGIC_SYSRQ off: the other crash every kernel has is init dying.
    println!("CALGARY-KDUMP crashing now: no /proc/sysrq-trigger (CONFIG_MAGIC_SYSRQ off), /init exits so that the kernel panics");
    let _ = std::io::stdout().flush();
    std::process::exit(EXIT_KILL_INIT);
}

/// `System RAM` ranges of the running kernel (top level of /proc/iomem).
pub(crate) fn system_ram() -> Vec<(u64, u64)> {
    let s = fs::read_to_string("/proc/iomem").unwrap_or_default();
    s.lines()
        .filter(|l| !l.starts_with(' ') && l.contains("System RAM"))
        .filter_map(|l| {
            let (range, _) = l.split_once(':')?;
            let (a, b) = range.trim().split_once('-')?;
            Some((
                u64::from_str_radix(a.trim(), 16).ok()?,
                u64::from_str_radix(b.trim(), 16).ok()?,
            ))
        })
        .collect()
}

/// `bus:tar,bus:tar` (hex) as handed over by the crashed kernel.
pub(crate) fn parse_prev_tar(s: &str) -> Vec<(u8, u64)> {
    s.split(',')
        .filter_map(|e| {
            let (b, t) = e.split_once(':')?;
            Some((
                u8::from_str_radix(b, 16).ok()?,
                u64::from_str_radix(t, 16).ok()?,
            ))
        })
        .collect()
}

/// The capture kernel after a crash: it must have reused the crashed
/// kernel's TCE tables from TAR (Linux 2.6.27+: `get_tce_space_from_tar`,
/// bitmap rebuilt from the non-zero TCEs) and its devices must work
/// through them.
pub(crate) fn suite_capture(r: &mut Report, cfg: &Config) {
    r.prefix = "kdump-".into();
    let devs = pci::list();
    let lines = kmsg_lines();
    for l in lines
        .iter()
        .filter(|l| l.contains("Calgary") || l.contains("CalIOC2") || l.contains("PCI-DMA"))
    {
        info(&format!("dmesg: {l}"));
    }
    let find = |pat: &str| lines.iter().find(|l| l.contains(pat)).cloned();
    match fs::metadata("/proc/vmcore") {
        Ok(m) => r.pass(
            "capture-kernel",
            &format!(
                "running as the capture kernel: /proc/vmcore present ({} bytes), {}",
                m.len(),
                cfg.cmdline
                    .split_whitespace()
                    .find(|t| t.starts_with("elfcorehdr="))
                    .unwrap_or("no elfcorehdr= on the command line")
            ),
        ),
        Err(e) => r.fail(
            "capture-kernel",
            &format!("no /proc/vmcore ({e}): not a kdump kernel (CONFIG_CRASH_DUMP, CONFIG_PROC_VMCORE?)"),
        ),
    }
    match (
        find("PCI-DMA: Calgary IOMMU detected."),
        find("Calgary TCE table spec is"),
    ) {
        (Some(d), spec) => r.pass("detect", &format!("'{d}' '{}'", spec.unwrap_or_default())),
        (None, _) => r.fail(
            "detect",
            "no 'PCI-DMA: Calgary IOMMU detected.' in the capture kernel's log",
        ),
    }
    let plat = match discover(r, cfg, &devs) {
        Some(p) => p,
        None => return,
    };
    let ram = system_ram();
    let prev = parse_prev_tar(cfg.get_or("prev_tar", ""));
    if prev.is_empty() {
        r.fail(
            "table-reuse",
            "no calgary.prev_tar= from the crashed kernel",
        );
    }
    let chipname = if plat.calioc2 { "CalIOC2" } else { "Calgary" };
    let mut reuse = Vec::new();
    let mut errs = Vec::new();
    for (bus, old) in &prev {
        let p = match plat.phbs.iter().find(|p| p.bus == *bus) {
            Some(p) => p,
            None => {
                errs.push(format!("bus {bus:#x}: no PHB"));
                continue;
            }
        };
        let c = plat.chip(p);
        let now = c.tar(p.phb);
        let conf = c.config(p.phb);
        let table = now & regs::TAR_TABLE_ADDR_MASK;
        let in_ram = ram.iter().any(|(a, b)| table >= *a && table <= *b);
        let enable = format!("enabling translation on {chipname} PHB {bus:#x}");
        let line = find(&enable);
        if table != old & regs::TAR_TABLE_ADDR_MASK {
            errs.push(format!(
                "{}: TAR {now:#x}, crashed kernel's {old:#x}: a different table",
                Platform::name(p)
            ));
        } else if in_ram {
            errs.push(format!(
                "{}: table {table:#x} lies in this kernel's own RAM",
                Platform::name(p)
            ));
        } else if conf & TCE_ENABLE == 0 || line.is_none() {
            errs.push(format!(
                "{}: translation not re-enabled (PHB_CONFIG={conf:#010x}, enable line {})",
                Platform::name(p),
                if line.is_some() { "present" } else { "absent" }
            ));
        } else {
            reuse.push(format!(
                "{}: TAR {now:#x} = crashed kernel's table {table:#x} (size code {} then, {} now), outside this kernel's RAM, '{}'",
                Platform::name(p),
                old & 7,
                now & 7,
                line.unwrap_or_default()
            ));
        }
    }
    if !prev.is_empty() {
        if errs.is_empty() {
            r.pass("table-reuse", &reuse.join("; "));
        } else {
            r.fail(
                "table-reuse",
                &format!("{}; ok: {}", errs.join("; "), reuse.join("; ")),
            );
        }
    }
    let sync0 = sync_point(cfg, "capture-begin");
    load_modules(r);
    device_checks(r, cfg, &devs);
    let dev_phbs: Vec<Phb> = plat
        .phbs
        .iter()
        .filter(|p| {
            devs.iter()
                .any(|d| d.bus == p.bus && (d.is_e1000() || d.is_virtio_net() || d.is_nvme()))
                && prev.iter().any(|(b, _)| *b == p.bus)
        })
        .cloned()
        .collect();
    phb_health(r, &plat, &dev_phbs, true);
    let sync1 = sync_point(cfg, "capture-end");
    if let (Err(e), _) | (_, Err(e)) = (&sync0, &sync1) {
        info(&format!("runner sync: {e}"));
    }
}
