//! The `default` suite (a kernel without a Calgary driver): discovery, the
//! edu checks, then everything pre-mapped for the kernel's drivers.

use crate::*;

pub(crate) fn premap(r: &mut Report, plat: &Platform, mem: &Mem, devs: &[PciDev]) -> Vec<Phb> {
    let ram = max_ram_phys();
    let g = devmem_premap::geometry_for(ram);
    let (s, entries) = (g.size_code, g.entries);
    if g.bytes() > EDU_TABLE_OFF - IDENT_OFF {
        r.fail(
            "premap",
            "identity table does not fit in the reserved layout",
        );
        return Vec::new();
    }
    devmem_premap::write_identity_table(&mem.m, IDENT_OFF, entries);
    let table = mem.base + IDENT_OFF as u64;
    let mut problems = Vec::new();
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
        match devmem_premap::enable_translation(&plat.chip(&p).win, p.phb, table, s) {
            Ok(cfg) => descs.push(format!(
                "{} for {} {} (PHB_CONFIG={cfg:#010x})",
                Platform::name(&p),
                d.kind(),
                d.addr,
            )),
            Err(e) => problems.push(format!("{} for {}: {e}", Platform::name(&p), d.addr)),
        }
        done.push(p);
    }
    if !problems.is_empty() {
        r.fail("premap", &problems.join("; "));
    } else if done.is_empty() {
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
    let plat = discover(r, cfg, &devs);
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
