//! The `default` suite (a kernel without a Calgary driver): discovery, the
//! edu checks, then everything pre-mapped for the kernel's drivers.

use crate::*;

pub(crate) fn premap(r: &mut Report, plat: &Platform, mem: &Mem, devs: &[PciDev]) -> Vec<Phb> {
    let ram = max_ram_phys();
    let pages = ram.div_ceil(4096);
    let mut s = 0u64;
    while (8192u64 << s) < pages && s < 7 {
        s += 1;
    }
    let entries = 8192usize << s;
    if entries * 8 > EDU_TABLE_OFF - IDENT_OFF {
        r.fail(
            "premap",
            "identity table does not fit in the reserved layout",
        );
        return Vec::new();
    }
    for i in 0..entries {
        mem.m.wr64(
            IDENT_OFF + 8 * i,
            (((i as u64) << 12) | TCE_READ | TCE_WRITE).to_be(),
        );
    }
    let table = mem.base + IDENT_OFF as u64;
    let mut done = Vec::new();
    let mut descs = Vec::new();
    for d in devs
        .iter()
        .filter(|d| d.is_e1000() || d.is_virtio_net() || d.is_nvme())
    {
        let p = match plat.phb_of(d) {
            Some(p) => p.clone(),
            None => continue,
        };
        if done.iter().any(|x: &Phb| x.bus == p.bus) {
            continue;
        }
        let c = plat.chip(&p);
        c.set_tar(p.phb, table, s);
        c.clear_csr(p.phb);
        c.set_config(p.phb, (c.config(p.phb) & !SLOT_DISABLE) | TCE_ENABLE);
        descs.push(format!(
            "{} for {} {} (PHB_CONFIG={:#010x})",
            Platform::name(&p),
            d.kind(),
            d.addr,
            c.config(p.phb)
        ));
        done.push(p);
    }
    if done.is_empty() {
        r.skip("premap", "no e1000/virtio-net/nvme behind a Calgary PHB");
    } else {
        r.pass(
            "premap",
            &format!("identity TCE table at {table:#x}, size code {s} ({entries} entries, covers RAM to {ram:#x}); translation on: {}", descs.join("; ")),
        );
    }
    done
}

pub(crate) fn suite_default(r: &mut Report, cfg: &Config) {
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
    match kernel_has_calgary() {
        Some(true) => info("this kernel has a Calgary driver; the default suite still drives the hardware itself"),
        Some(false) => r.skip(
            "kernel-calgary-driver",
            "this kernel has no Calgary driver (removed from Linux in 5.7); calgary-guest plays the driver's part from user space",
        ),
        None => {}
    }
    let plat = discover(r, &devs);
    let mut device_phbs = Vec::new();
    if let Some(plat) = &plat {
        match Mem::open(cfg) {
            Ok(mem) => {
                edu_suite(r, cfg, plat, &mem, &devs);
                device_phbs = premap(r, plat, &mem, &devs);
            }
            Err(e) => r.fail("reserved-memory", &e),
        }
    }
    load_modules(r);
    device_checks(r, cfg, &devs);
    if let Some(plat) = &plat {
        phb_health(r, plat, &device_phbs, true);
    }
}
