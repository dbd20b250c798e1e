//! The kernel's own drivers behind PHBs: modules, e1000/virtio-net traffic,
//! nvme I/O, and the PHBs' health after it.

use crate::*;

pub(crate) fn load_modules(r: &mut Report) {
    let kver = fs::read_to_string("/proc/sys/kernel/osrelease")
        .unwrap_or_default()
        .trim()
        .to_string();
    let list = format!("/lib/modules/{kver}/calgary-modules.list");
    let s = match fs::read_to_string(&list) {
        Ok(s) => s,
        Err(_) => {
            r.skip(
                "modules-load",
                &format!(
                    "no module list for kernel {kver} in the initramfs; drivers must be built in"
                ),
            );
            return;
        }
    };
    let mut loaded = Vec::new();
    let mut errs = Vec::new();
    for m in s.lines().map(|l| l.trim()).filter(|l| !l.is_empty()) {
        let path = format!("/lib/modules/{kver}/{m}");
        let (ok, out) = run("insmod", &[&path], Duration::from_secs(60));
        let name = m.rsplit('/').next().unwrap_or(m).trim_end_matches(".ko");
        if ok || out.contains("File exists") {
            loaded.push(name.to_string());
        } else {
            errs.push(format!("{name}: {out}"));
        }
    }
    if errs.is_empty() {
        r.pass("modules-load", &format!("insmod {}", loaded.join(" ")));
    } else {
        r.fail(
            "modules-load",
            &format!("{}; loaded: {}", errs.join("; "), loaded.join(" ")),
        );
    }
}

pub(crate) fn sys_path_has(path: &str, addr: &str) -> bool {
    fs::canonicalize(path)
        .map(|p| p.to_string_lossy().split('/').any(|c| c == addr))
        .unwrap_or(false)
}

pub(crate) fn wait_for<T>(timeout: Duration, mut f: impl FnMut() -> Option<T>) -> Option<T> {
    let t0 = Instant::now();
    loop {
        if let Some(v) = f() {
            return Some(v);
        }
        if t0.elapsed() > timeout {
            return None;
        }
        std::thread::sleep(Duration::from_millis(200));
    }
}

pub(crate) fn netdev_for(dev: &PciDev) -> Option<String> {
    for e in fs::read_dir("/sys/class/net").ok()?.flatten() {
        let n = e.file_name().to_string_lossy().to_string();
        if sys_path_has(&format!("/sys/class/net/{n}/device"), &dev.addr) {
            return Some(n);
        }
    }
    None
}

pub(crate) fn net_check(r: &mut Report, cfg: &Config, dev: &PciDev, label: &str) {
    let name = format!("net-{label}");
    let opt = optional(cfg, label);
    let ifn = match wait_device(dev, opt, || netdev_for(dev)) {
        Ok(n) => n,
        Err(e) if opt => {
            r.skip(
                &name,
                &format!("no network interface: {e}; {label} is optional for this kernel"),
            );
            return;
        }
        Err(e) => {
            r.fail(&name, &format!("no network interface: {e}"));
            return;
        }
    };
    let _ = run(
        "ip",
        &["link", "set", "dev", &ifn, "up"],
        Duration::from_secs(10),
    );
    let _ = fs::remove_file(format!("/tmp/dhcp-{ifn}"));
    let (ok, out) = run(
        "udhcpc",
        &[
            "-i",
            &ifn,
            "-n",
            "-q",
            "-f",
            "-t",
            "8",
            "-T",
            "2",
            "-s",
            "/etc/calgary/udhcpc.sh",
        ],
        Duration::from_secs(40),
    );
    let lease = fs::read_to_string(format!("/tmp/dhcp-{ifn}")).unwrap_or_default();
    let get = |k: &str| {
        lease
            .lines()
            .find_map(|l| l.strip_prefix(&format!("{k}=")))
            .unwrap_or("")
            .to_string()
    };
    let (ip, router, serverid) = (get("ip"), get("router"), get("serverid"));
    if !ok || ip.is_empty() {
        r.fail(
            &format!("{name}-dhcp"),
            &format!(
                "{ifn} ({}): udhcpc failed: {}",
                dev.addr,
                out.lines().last().unwrap_or("")
            ),
        );
        return;
    }
    // The TFTP server is slirp's host address on this NIC's own subnet (the
    // DHCP server id), so the transfer really goes through this NIC.
    let server = if !serverid.is_empty() {
        serverid.clone()
    } else {
        let mut o: Vec<&str> = ip.split('.').collect();
        if o.len() == 4 {
            o[3] = "2";
        }
        o.join(".")
    };
    r.pass(
        &format!("{name}-dhcp"),
        &format!(
            "{ifn} ({}) leased {ip} from DHCP server {server}{}",
            dev.addr,
            if router.is_empty() {
                String::new()
            } else {
                format!(", router {router}")
            }
        ),
    );
    let blob = cfg.get_or("blob", "blob.bin");
    let want = match cfg.get("blob_md5") {
        Some(m) => m.to_string(),
        None => {
            r.skip(&format!("{name}-tftp"), "no calgary.blob_md5= given");
            return;
        }
    };
    let local = format!("/tmp/{blob}.{ifn}");
    let t0 = Instant::now();
    let (ok, out) = run(
        "tftp",
        &["-g", "-b", "1400", "-r", blob, "-l", &local, &server],
        Duration::from_secs(90),
    );
    let secs = t0.elapsed().as_secs_f64();
    if !ok {
        r.fail(
            &format!("{name}-tftp"),
            &format!("tftp -g {blob} from {server} via {ifn}: {out}"),
        );
        return;
    }
    let (_, sum) = run("md5sum", &[&local], Duration::from_secs(30));
    let got = sum.split_whitespace().next().unwrap_or("").to_string();
    let size = fs::metadata(&local).map(|m| m.len()).unwrap_or(0);
    let _ = fs::remove_file(&local);
    if got == want {
        r.pass(
            &format!("{name}-tftp"),
            &format!("{size} bytes from {server} via {ifn} in {secs:.1}s, md5 {got} matches"),
        );
    } else {
        r.fail(
            &format!("{name}-tftp"),
            &format!("md5 {got} != expected {want} ({size} bytes)"),
        );
    }
}

/// The block device of an nvme PCI function: `/sys/class/nvme/<ctrl>`
/// (4.x+; namespaces nvmeKnN, or nvmeXcKnN path devices under native
/// multipath whose usable node is the head nvmeXnN), else any
/// `/sys/block/nvme*` whose device path contains the PCI address (3.x).
/// The `/dev` node is created from sysfs when no devtmpfs made it.
pub(crate) fn nvme_block(dev: &PciDev) -> Option<String> {
    if let Ok(rd) = fs::read_dir("/sys/class/nvme") {
        for e in rd.flatten() {
            let ctrl = e.file_name().to_string_lossy().to_string();
            if !sys_path_has(&format!("/sys/class/nvme/{ctrl}/device"), &dev.addr) {
                continue;
            }
            for ns in fs::read_dir(format!("/sys/class/nvme/{ctrl}"))
                .ok()?
                .flatten()
            {
                let n = ns.file_name().to_string_lossy().to_string();
                if !n.starts_with("nvme") || !n[4..].contains('n') {
                    continue;
                }
                let head = match (n.find('c'), n.rfind('n')) {
                    (Some(c), Some(k)) if c < k => format!("{}{}", &n[..c], &n[k..]),
                    _ => n.clone(),
                };
                if let Ok(p) = ensure_dev_node(&head, &format!("/sys/block/{head}/dev"), true) {
                    return Some(p);
                }
            }
        }
    }
    for e in fs::read_dir("/sys/block").ok()?.flatten() {
        let n = e.file_name().to_string_lossy().to_string();
        if !n.starts_with("nvme") {
            continue;
        }
        let mine = sys_path_has(&format!("/sys/block/{n}/device"), &dev.addr)
            || sys_path_has(&format!("/sys/block/{n}"), &dev.addr);
        if mine {
            if let Ok(p) = ensure_dev_node(&n, &format!("/sys/block/{n}/dev"), true) {
                return Some(p);
            }
        }
    }
    None
}

/// The driver bound to a PCI function, if any.
pub(crate) fn bound_driver(dev: &PciDev) -> Option<String> {
    let l = fs::read_link(format!("{}/driver", dev.sysfs())).ok()?;
    Some(l.file_name()?.to_string_lossy().to_string())
}

/// Wait for a device's kernel object (netdev, block device). A device the
/// kernel is not expected to drive (`optional`) gives up early when no
/// driver bound to it.
pub(crate) fn wait_device<T>(
    dev: &PciDev,
    optional: bool,
    mut f: impl FnMut() -> Option<T>,
) -> Result<T, String> {
    let t0 = Instant::now();
    loop {
        if let Some(v) = f() {
            return Ok(v);
        }
        let drv = bound_driver(dev);
        let el = t0.elapsed();
        if el > Duration::from_secs(20)
            || (optional && drv.is_none() && el > Duration::from_secs(4))
        {
            return Err(match drv {
                Some(d) => format!(
                    "driver {d} bound to {} but nothing appeared within {}s",
                    dev.addr,
                    el.as_secs()
                ),
                None => format!("no driver bound to {} within {}s", dev.addr, el.as_secs()),
            });
        }
        std::thread::sleep(Duration::from_millis(200));
    }
}

pub(crate) fn optional(cfg: &Config, what: &str) -> bool {
    cfg.get_or("optional", "").split(',').any(|o| o == what)
}

pub(crate) fn nvme_check(r: &mut Report, cfg: &Config, dev: &PciDev) {
    use std::os::unix::fs::FileExt;
    let opt = optional(cfg, "nvme");
    let path = match wait_device(dev, opt, || nvme_block(dev)) {
        Ok(b) => b,
        Err(e) if opt => {
            r.skip("nvme-rw", &format!("{e}; nvme is optional for this kernel"));
            return;
        }
        Err(e) => {
            r.fail("nvme-rw", &format!("no nvme block device: {e}"));
            return;
        }
    };
    let seed: u32 = cfg
        .get("disk_seed")
        .and_then(|s| s.parse().ok())
        .unwrap_or(0x5EED);
    let len = 4usize << 20;
    let off = cfg.get("disk_off").and_then(parse_num).unwrap_or(1 << 20);
    let res = (|| -> Result<String, String> {
        let mut wbuf = sys::AlignedBuf::new(len).ok_or("allocation failed")?;
        let data = disk_pattern(seed, len);
        wbuf.as_mut_slice().copy_from_slice(&data);
        let t0 = Instant::now();
        {
            let f = sys::open_direct(&path, true)?;
            f.write_all_at(wbuf.as_slice(), off)
                .map_err(|e| format!("O_DIRECT write: {e}"))?;
            f.sync_all().map_err(|e| format!("fsync: {e}"))?;
        }
        let _ = fs::write("/proc/sys/vm/drop_caches", "3");
        let mut rbuf = sys::AlignedBuf::new(len).ok_or("allocation failed")?;
        {
            let f = sys::open_direct(&path, false)?;
            f.read_exact_at(rbuf.as_mut_slice(), off)
                .map_err(|e| format!("O_DIRECT read: {e}"))?;
        }
        let secs = t0.elapsed().as_secs_f64();
        if let Some(i) = first_diff(rbuf.as_slice(), &data) {
            return Err(format!("read-back differs at byte {i} of {len}"));
        }
        Ok(format!(
            "{path}: wrote+read {} MiB at offset {off:#x} with O_DIRECT in {secs:.1}s, identical (fnv64 {:016x}, disk_seed {seed})",
            len >> 20,
            fnv64(&data)
        ))
    })();
    r.result("nvme-rw", res);
}

pub(crate) fn device_checks(r: &mut Report, cfg: &Config, devs: &[PciDev]) {
    let e1000: Vec<&PciDev> = devs.iter().filter(|d| d.is_e1000()).collect();
    let vnet: Vec<&PciDev> = devs.iter().filter(|d| d.is_virtio_net()).collect();
    let nvme: Vec<&PciDev> = devs.iter().filter(|d| d.is_nvme()).collect();
    // The first e1000 is `net-e1000`; further ones are named by their bus
    // (e.g. the one on a PHB that calgary=disable= leaves untranslated).
    match e1000.first() {
        Some(d) => net_check(r, cfg, d, "e1000"),
        None => r.skip("net-e1000", "no e1000 device"),
    }
    for d in e1000.iter().skip(1) {
        net_check(r, cfg, d, &format!("e1000-bus{:02x}", d.bus));
    }
    match vnet.first() {
        Some(d) => net_check(r, cfg, d, "virtio"),
        None => r.skip("net-virtio", "no virtio-net device"),
    }
    match nvme.first() {
        Some(d) => nvme_check(r, cfg, d),
        None => r.skip("nvme-rw", "no nvme device"),
    }
}

/// After the device traffic: translation still on and no error latched on
/// the PHBs that carried it.
pub(crate) fn phb_health(r: &mut Report, plat: &Platform, phbs: &[Phb], want_translated: bool) {
    let mut errs = Vec::new();
    let mut descs = Vec::new();
    for p in phbs {
        let c = plat.chip(p);
        let csr = c.csr(p.phb);
        let conf = c.config(p.phb);
        descs.push(format!(
            "{} CSR={csr:#010x} PHB_CONFIG={conf:#010x}",
            Platform::name(p)
        ));
        if csr & CSR_ERR_MASK != 0 {
            errs.push(format!(
                "{} has an error latched: CSR={csr:#010x} PLSSR={:#010x}",
                Platform::name(p),
                c.plssr(p.phb)
            ));
        }
        if want_translated && conf & TCE_ENABLE == 0 {
            errs.push(format!("{} translation is off", Platform::name(p)));
        }
    }
    if phbs.is_empty() {
        r.skip("phb-health", "no device PHBs");
    } else if errs.is_empty() {
        r.pass(
            "phb-health",
            &format!("no DMA errors after device traffic: {}", descs.join(", ")),
        );
    } else {
        r.fail("phb-health", &errs.join("; "));
    }
}

pub(crate) fn kernel_has_calgary() -> Option<bool> {
    let s = fs::read_to_string("/proc/kallsyms").ok()?;
    Some(s.lines().any(|l| {
        l.ends_with(" detect_calgary")
            || l.ends_with(" calgary_iommu_init")
            || l.contains(" calgary_")
    }))
}
