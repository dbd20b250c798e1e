//! The `kernel` suite (a kernel with the Calgary driver): its messages and
//! register state, the devices, and an errant DMA its watchdog must catch.

use crate::*;

pub(crate) fn suite_kernel(r: &mut Report, cfg: &Config) {
    let devs = pci::list();
    for d in devs.iter().filter(|d| d.kind() != "other") {
        info(&format!(
            "pci {} {:04x}:{:04x} {}",
            d.addr,
            d.vendor,
            d.device,
            d.kind()
        ));
    }
    let expect = cfg.get_or("expect", "translate").to_string();
    let has = kernel_has_calgary();
    let lines = kmsg_lines();
    for l in lines
        .iter()
        .filter(|l| l.contains("Calgary") || l.contains("CalIOC2") || l.contains("PCI-DMA"))
    {
        info(&format!("dmesg: {l}"));
    }
    let plat = discover(r, cfg, &devs);
    if has == Some(false) {
        r.fail(
            "kernel-calgary-driver",
            "this kernel has no Calgary driver (no calgary_* symbols in /proc/kallsyms): build it with CONFIG_CALGARY_IOMMU=y (Linux <= 5.6), see guest-images/KERNEL-OPTIONS.md",
        );
    } else {
        r.pass(
            "kernel-calgary-driver",
            &format!("calgary symbols present; expectation: {expect}"),
        );
    }
    let find = |pat: &str| lines.iter().any(|l| l.contains(pat));
    let plat = match plat {
        Some(p) => p,
        None => {
            load_modules(r);
            device_checks(r, cfg, &devs);
            return;
        }
    };
    // Populated PHBs: a device in slots 1..7 (CalIOC2: always).
    let populated: Vec<Phb> = plat
        .phbs
        .iter()
        .filter(|p| {
            plat.calioc2
                || devs
                    .iter()
                    .any(|d| d.bus == p.bus && (1..=7).contains(&d.slot))
        })
        .cloned()
        .collect();
    let chipname = if plat.calioc2 { "CalIOC2" } else { "Calgary" };
    let disabled_bus: Option<u8> = expect
        .strip_prefix("disable:")
        .or(cfg.get("disable"))
        .and_then(parse_num)
        .map(|b| b as u8);
    if expect == "off" {
        let det = find("Calgary IOMMU detected");
        let en = lines
            .iter()
            .filter(|l| l.contains("enabling translation on"))
            .count();
        let on: Vec<String> = plat
            .phbs
            .iter()
            .filter(|p| plat.chip(p).config(p.phb) & TCE_ENABLE != 0)
            .map(Platform::name)
            .collect();
        if !det && en == 0 && on.is_empty() {
            r.pass(
                "kernel-iommu-off",
                "no detection, no PHB translated (iommu=off honoured)",
            );
        } else {
            r.fail(
                "kernel-iommu-off",
                &format!(
                    "detected={det}, enable lines={en}, TCE_ENABLE on: [{}]",
                    on.join(",")
                ),
            );
        }
    } else {
        if find("PCI-DMA: Calgary IOMMU detected.") {
            let spec = lines
                .iter()
                .find(|l| l.contains("Calgary TCE table spec is"))
                .cloned()
                .unwrap_or_default();
            r.pass(
                "kernel-detect",
                &format!("'PCI-DMA: Calgary IOMMU detected.' {spec}"),
            );
        } else if find("Unable to locate Rio Grande") {
            r.fail(
                "kernel-detect",
                "kernel says: Unable to locate Rio Grande table in EBDA",
            );
        } else {
            r.fail("kernel-detect", "no 'Calgary IOMMU detected' line in dmesg (CONFIG_CALGARY_IOMMU_ENABLED_BY_DEFAULT or iommu=calgary?)");
        }
        if find("PCI-DMA: Using Calgary IOMMU") {
            r.pass("kernel-init", "'PCI-DMA: Using Calgary IOMMU'");
        } else {
            r.fail("kernel-init", "no 'PCI-DMA: Using Calgary IOMMU' line");
        }
        for p in &populated {
            let name = format!("kernel-enable-{:#04x}", p.bus);
            let line = enable_line(&lines, chipname, p.bus);
            let conf = plat.chip(p).config(p.phb);
            let hw_on = conf & TCE_ENABLE != 0;
            if Some(p.bus) == disabled_bus {
                let msg = format!("disabling translation for PHB {:#x}", p.bus);
                if !find(&line) && !hw_on && find(&msg) {
                    r.pass(&name, &format!("calgary=disable honoured: '{msg}', PHB_CONFIG={conf:#010x} (translation off)"));
                } else {
                    r.fail(&name, &format!("expected untranslated: enable-line={}, disable-line={}, PHB_CONFIG={conf:#010x}", find(&line), find(&msg)));
                }
            } else if find(&line) && find("errant DMAs will now be prevented on this bus.") && hw_on
            {
                r.pass(
                    &name,
                    &format!(
                        "'{line}' + 'errant DMAs will now be prevented', PHB_CONFIG={conf:#010x}"
                    ),
                );
            } else {
                r.fail(
                    &name,
                    &format!(
                        "enable line present={}, PHB_CONFIG={conf:#010x}",
                        find(&line)
                    ),
                );
            }
        }
    }
    load_modules(r);
    device_checks(r, cfg, &devs);
    let dev_phbs: Vec<Phb> = populated
        .iter()
        .filter(|p| {
            devs.iter()
                .any(|d| d.bus == p.bus && (d.is_e1000() || d.is_virtio_net() || d.is_nvme()))
        })
        .filter(|p| Some(p.bus) != disabled_bus)
        .cloned()
        .collect();
    phb_health(r, &plat, &dev_phbs, expect != "off");
    if expect == "translate" && cfg.get_or("wrap", "0") == "1" {
        wrap_check(r, cfg, &plat, &devs);
    }
    if expect == "translate" && cfg.get_or("inject", "0") == "1" {
        fetch_fail_check(r, cfg, &plat, &devs, chipname);
    }
    if expect == "translate" && cfg.get_or("errant", "1") != "0" {
        errant_check(r, cfg, &plat, &devs, chipname);
    }
    if cfg.get_or("kdump", "0") == "1" {
        r.crash_next = kdump_load(r, cfg, &plat);
    }
}

/// An errant DMA from edu to an IO address nobody mapped must be caught by
/// the kernel's watchdog: message, slot disabled, memory intact.
pub(crate) fn errant_check(
    r: &mut Report,
    cfg: &Config,
    plat: &Platform,
    devs: &[PciDev],
    chipname: &str,
) {
    let name = "kernel-errant-dma";
    let edu_dev = match devs.iter().find(|d| d.is_edu() && plat.phb_of(d).is_some()) {
        Some(d) => d.clone(),
        None => {
            r.skip(name, "no edu device behind a Calgary PHB");
            return;
        }
    };
    let res = (|| -> Result<String, String> {
        let phb = plat.phb_of(&edu_dev).ok_or("edu PHB vanished")?.clone();
        let chip = plat.chip(&phb);
        if chip.config(phb.phb) & TCE_ENABLE == 0 {
            return Err(format!(
                "{} is not translated by the kernel",
                Platform::name(&phb)
            ));
        }
        let mem = Mem::open(cfg)?;
        let edu = Edu::open(&edu_dev)?;
        let pat = pattern(42, 4096);
        mem.fill_page(30, &pat);
        let io = mem.page_phys(30);
        let t0 = Instant::now();
        edu.dma_from_device(0, io, 4096)?;
        let want = format!("DMA error on {chipname} PHB {:#x}", phb.bus);
        // 2.6.18's watchdog names the device's bus in decimal.
        let want_old = format!("calgary_watchdog: DMA error on bus {}, ", phb.bus);
        let line = wait_for(Duration::from_secs(8), || {
            kmsg_lines()
                .into_iter()
                .find(|l| l.contains(&want) || l.contains(&want_old))
        });
        let secs = t0.elapsed().as_secs_f64();
        let line = line.ok_or_else(|| {
            format!(
                "no '{want}' in dmesg within 8 s (CSR={:#010x})",
                chip.csr(phb.phb)
            )
        })?;
        check_page(&mem, 30, 0, &pat)
            .map_err(|e| format!("memory at phys {io:#x} corrupted: {e}"))?;
        let conf = chip.config(phb.phb);
        if conf & SLOT_DISABLE != SLOT_DISABLE {
            return Err(format!(
                "'{line}' but SLOT_DISABLE not set (PHB_CONFIG={conf:#010x})"
            ));
        }
        Ok(format!("edu->IO {io:#x} (unmapped): '{line}' after {secs:.1}s, slot disabled (PHB_CONFIG={conf:#010x}), memory intact"))
    })();
    r.result(name, res);
}

/// The line a driver prints when it enables translation on the PHB of
/// `bus`: from 2.6.19 `enabling translation on Calgary PHB 0x24` (CalIOC2
/// from 2.6.23), in 2.6.18 `enabling translation on PHB 36` (decimal, no
/// chip name). The one present in `lines`, else the current form.
pub(crate) fn enable_line(lines: &[String], chipname: &str, bus: u8) -> String {
    let old = format!("Calgary: enabling translation on PHB {bus}");
    if lines.iter().any(|l| l.trim_end().ends_with(&old)) {
        old
    } else {
        format!("enabling translation on {chipname} PHB {bus:#x}")
    }
}
