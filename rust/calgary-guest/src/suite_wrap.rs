//! IO-space wrap: enough DMA that Linux's allocator wraps and flushes.

use crate::*;

/// Enough DMA through one translated PHB that Linux's allocator runs off
/// the end of the IO space and wraps, which is where the driver flushes the
/// PHB's TCE cache (`tce_cache_blast` in `iommu_range_alloc`). With
/// `calgary=64k` the table has 8192 entries (32 MiB of IO space). The data
/// read in every pass is checked, so a stale cached TCE would show as
/// corruption; the runner checks the PHB's flush counter between the two
/// sync points.
pub(crate) fn wrap_check(r: &mut Report, cfg: &Config, plat: &Platform, devs: &[PciDev]) {
    let name = "dma-wrap";
    let translated = |d: &PciDev| -> Option<Phb> {
        let p = plat.phb_of(d)?;
        (plat.chip(p).config(p.phb) & TCE_ENABLE != 0).then(|| p.clone())
    };
    let nvme = devs.iter().find_map(|d| {
        if !d.is_nvme() {
            return None;
        }
        Some((d, translated(d)?, nvme_block(d)?))
    });
    let e1000 = devs
        .iter()
        .filter(|d| d.is_e1000())
        .find_map(|d| Some((d, translated(d)?, netdev_for(d)?)));
    let phb = match (&nvme, &e1000) {
        (Some((_, p, _)), _) | (None, Some((_, p, _))) => p.clone(),
        _ => {
            r.skip(
                name,
                "no nvme or e1000 on a translated PHB to drive the IO space round",
            );
            return;
        }
    };
    let tar = plat.chip(&phb).tar(phb.phb);
    let code = tar & 7;
    let entries = 8192u64 << code;
    if code > 4 {
        r.skip(name, &format!("{}: TCE table size code {code} ({entries} entries): too large to wrap in a test; boot with calgary=64k", Platform::name(&phb)));
        return;
    }
    // Twice the IO space: a wrap whatever the allocator's starting hint.
    let pages = 2 * entries + 256;
    info(&format!(
        "wrap phb=calgary{}.{} bus={:#04x} tar={tar:#x} table-entries={entries} io-pages={pages} via={}",
        phb.chip,
        phb.phb,
        phb.bus,
        if nvme.is_some() { "nvme" } else { "e1000" }
    ));
    let sync0 = sync_point(cfg, "wrap-begin");
    let t0 = Instant::now();
    let res = match &nvme {
        Some((_, _, path)) => wrap_nvme(cfg, path, pages),
        None => match &e1000 {
            Some((_, _, ifn)) => wrap_tftp(cfg, ifn, pages),
            None => Err("no device".into()),
        },
    };
    let secs = t0.elapsed().as_secs_f64();
    let sync1 = sync_point(cfg, "wrap-end");
    let res = res.map(|m| {
        let mut m = format!(
            "{}: {m} in {secs:.1}s (table {entries} entries)",
            Platform::name(&phb)
        );
        if let (Err(e), _) | (_, Err(e)) = (&sync0, &sync1) {
            m += &format!("; runner sync: {e}");
        }
        m
    });
    r.result(name, res);
}

pub(crate) fn wrap_nvme(cfg: &Config, path: &str, pages: u64) -> Result<String, String> {
    use std::os::unix::fs::FileExt;
    let seed: u32 = cfg
        .get("disk_seed")
        .and_then(|s| s.parse().ok())
        .unwrap_or(0x5EED);
    let off = cfg.get("disk_off").and_then(parse_num).unwrap_or(1 << 20);
    let len = 4usize << 20;
    let want = disk_pattern(seed, len);
    let f = sys::open_direct(path, false)?;
    let mut buf = sys::AlignedBuf::new(1 << 20).ok_or("allocation failed")?;
    let passes = pages.div_ceil((len / 4096) as u64);
    for pass in 0..passes {
        for chunk in 0..(len >> 20) {
            let o = off + ((chunk as u64) << 20);
            f.read_exact_at(buf.as_mut_slice(), o)
                .map_err(|e| format!("pass {pass}: O_DIRECT read at {o:#x}: {e}"))?;
            let w = &want[chunk << 20..(chunk + 1) << 20];
            if let Some(i) = first_diff(buf.as_slice(), w) {
                return Err(format!(
                    "pass {pass}: data at disk offset {:#x} differs from what nvme-rw wrote",
                    o + i as u64
                ));
            }
        }
    }
    Ok(format!(
        "{passes} passes of 4 MiB O_DIRECT reads from {path} ({} IO pages mapped and unmapped), data identical in every pass",
        passes * (len as u64 / 4096)
    ))
}

pub(crate) fn wrap_tftp(cfg: &Config, ifn: &str, pages: u64) -> Result<String, String> {
    let server = dhcp_server(ifn)?;
    let blob = cfg.get_or("blob", "blob.bin");
    let want = cfg.get("blob_md5").ok_or("no calgary.blob_md5= given")?;
    // About 2 IO pages per 1400-byte TFTP block (RX buffer + ACK).
    let per = (512 * 1024 / 1400) * 2;
    let passes = pages.div_ceil(per);
    let local = format!("/tmp/wrap.{ifn}");
    let t0 = Instant::now();
    for pass in 0..passes {
        let (ok, out) = run(
            "tftp",
            &["-g", "-b", "1400", "-r", blob, "-l", &local, &server],
            Duration::from_secs(60),
        );
        if !ok {
            return Err(format!("pass {pass}: tftp from {server} via {ifn}: {out}"));
        }
        let (_, sum) = run("md5sum", &[&local], Duration::from_secs(30));
        if sum.split_whitespace().next() != Some(want) {
            return Err(format!("pass {pass}: md5 of {blob} differs"));
        }
        if t0.elapsed() > Duration::from_secs(240) {
            return Err(format!("only {pass} of {passes} TFTP passes within 240 s"));
        }
    }
    let _ = fs::remove_file(&local);
    Ok(format!(
        "{passes} TFTP transfers of {blob} via {ifn} (about {} IO pages), md5 correct every time",
        passes * per
    ))
}
