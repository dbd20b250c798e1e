//! Default suite, part 1: the tool plays the driver and drives `edu` DMA
//! through TCEs it writes (mapped, unmapped, read-only, out of range,
//! slot disabled, stale TCE).

use crate::*;

pub(crate) struct EduCtx<'a> {
    pub(crate) plat: &'a Platform,
    pub(crate) phb: Phb,
    pub(crate) mem: &'a Mem,
    pub(crate) edu: Edu,
    pub(crate) size_code: u64,
    pub(crate) cache: String,
}

impl<'a> EduCtx<'a> {
    pub(crate) fn chip(&self) -> &Chip {
        self.plat.chip(&self.phb)
    }
    pub(crate) fn csr(&self) -> u32 {
        self.chip().csr(self.phb.phb)
    }
    pub(crate) fn latched(&self) -> bool {
        self.csr() & CSR_ERR_MASK != 0
    }
    pub(crate) fn regs(&self) -> String {
        let csr = self.csr();
        format!(
            "CSR={csr:#010x}{} PLSSR={:#010x}",
            csr_reason(csr),
            self.chip().plssr(self.phb.phb)
        )
    }
    pub(crate) fn clear(&self) -> Result<(), String> {
        self.chip().clear_csr(self.phb.phb);
        if self.latched() {
            return Err(format!(
                "CSR still latched after writing 0: {}",
                self.regs()
            ));
        }
        Ok(())
    }
    pub(crate) fn table_phys(&self) -> u64 {
        self.mem.base + EDU_TABLE_OFF as u64
    }
    pub(crate) fn tce(&self, io_page: usize, target_page: Option<usize>, perms: u64) {
        let idx = self.mem.page_phys(io_page) >> 12;
        let val = match target_page {
            Some(t) => self.mem.page_phys(t) | perms,
            None => 0,
        };
        self.mem.set_tce(EDU_TABLE_OFF, idx, val);
    }
    pub(crate) fn io(&self, page: usize) -> u64 {
        self.mem.page_phys(page)
    }
    pub(crate) fn flush(&self) {
        self.chip().flush(self.phb.phb)
    }
    /// Put pattern B (page 2) into edu's buffer through a read-only mapping.
    pub(crate) fn load_b(&self) -> Result<(), String> {
        self.tce(3, Some(2), TCE_READ);
        self.edu.dma_to_device(self.io(3), 0, 4096)
    }
    /// Expect a blocked DMA: memory pages intact and CSR latched; then clear.
    pub(crate) fn expect_blocked(
        &self,
        what: &str,
        intact: &[(usize, &[u8])],
    ) -> Result<String, String> {
        let mut errs = Vec::new();
        for (p, want) in intact {
            let got = self.mem.page(*p);
            if let Some(i) = first_diff(&got, want) {
                errs.push(format!(
                    "page {p} modified at byte {i} ({:#04x} != {:#04x})",
                    got[i], want[i]
                ));
            }
        }
        let latched = self.latched();
        let regs = self.regs();
        if !latched {
            errs.push(format!("CSR not latched ({regs})"));
        }
        if let Err(e) = self.clear() {
            errs.push(e);
        }
        if errs.is_empty() {
            Ok(format!(
                "{what}: blocked, memory intact, latched {regs}, cleared by writing 0"
            ))
        } else {
            Err(format!("{what}: {}", errs.join("; ")))
        }
    }
}

/// Decode the reason field of this model's CSR encoding (a model decision,
/// see calgary-core's csr.rs); informational only.
pub(crate) fn csr_reason(csr: u32) -> String {
    if csr & calgary_core::CSR_ERROR == 0 {
        return String::new();
    }
    let why = calgary_core::csr_decode(csr, 0)
        .map(|i| i.reason.as_str())
        .unwrap_or("?");
    format!(
        "({why}, {})",
        if csr & calgary_core::CSR_DIR_WRITE != 0 {
            "device write"
        } else {
            "device read"
        }
    )
}

pub(crate) fn check_page(mem: &Mem, p: usize, off: usize, want: &[u8]) -> Result<(), String> {
    let got = mem.page(p);
    match first_diff(&got[off..off + want.len()], want) {
        None => Ok(()),
        Some(i) => Err(format!(
            "page {p} byte {:#x}: {:#04x} != expected {:#04x}",
            off + i,
            got[off + i],
            want[i]
        )),
    }
}

pub(crate) fn edu_suite(r: &mut Report, cfg: &Config, plat: &Platform, mem: &Mem, devs: &[PciDev]) {
    let edu_dev = match devs.iter().find(|d| d.is_edu() && plat.phb_of(d).is_some()) {
        Some(d) => d.clone(),
        None => {
            r.skip("edu", "no edu device (1234:11e8) behind a Calgary PHB; add -device edu,bus=calgary0.0,addr=1,dma_mask=0xffffffff");
            return;
        }
    };
    let phb = match plat.phb_of(&edu_dev) {
        Some(p) => p.clone(),
        None => return,
    };
    let edu = match Edu::open(&edu_dev) {
        Ok(e) => e,
        Err(e) => {
            r.fail("edu", &format!("{}: {e}", edu_dev.addr));
            return;
        }
    };
    // IO index space needed: our pages are used as IO addresses too.
    let max_idx = mem.page_phys(64) >> 12;
    let mut s = 0u64;
    while regs::tce_entries(s) <= max_idx && s < devmem_premap::MAX_SIZE_CODE {
        s += 1;
    }
    if regs::tce_entries(s) * 8 > (PAGES_OFF - EDU_TABLE_OFF) as u64
        || regs::tce_entries(s) <= max_idx
    {
        r.skip("edu", &format!("reserved region at {:#x} is too high for the edu test table (put it below 512 MiB)", mem.base));
        return;
    }
    let cache = cfg.get_or("cache", "unknown").to_string();
    let ctx = EduCtx {
        plat,
        phb: phb.clone(),
        mem,
        edu,
        size_code: s,
        cache,
    };
    info(&format!(
        "edu {} on {}; edu table at {:#x} size code {} ({} entries); test pages at {:#x}; cache mode {}",
        edu_dev.addr,
        Platform::name(&phb),
        ctx.table_phys(),
        s,
        regs::tce_entries(s),
        mem.page_phys(0),
        ctx.cache
    ));
    let chip = ctx.chip();
    let pn = phb.phb;
    // Start from a clean state: translation off, no slot disable, CSR clear.
    let cfg0 = chip.config(pn);
    chip.set_config(pn, cfg0 & !(TCE_ENABLE | SLOT_DISABLE));
    if let Err(e) = ctx.clear() {
        r.fail("edu-initial-csr", &e);
    }
    let pat_a = pattern(1, 4096);
    let pat_b = pattern(2, 4096);
    let zero = vec![0u8; 4096];

    // A. bypass (translation off): physical addresses reach memory unchanged.
    let res = (|| -> Result<String, String> {
        mem.fill_page(0, &pat_a);
        mem.fill_page(1, &zero);
        ctx.edu.dma_to_device(ctx.io(0), 0, 4096)?;
        ctx.edu.dma_from_device(0, ctx.io(1), 4096)?;
        check_page(mem, 1, 0, &pat_a)?;
        if ctx.latched() {
            return Err(format!("error latched in bypass: {}", ctx.regs()));
        }
        Ok(format!(
            "translation off: 4 KiB RAM->edu->RAM at phys {:#x}->{:#x} correct",
            ctx.io(0),
            ctx.io(1)
        ))
    })();
    r.result("dma-bypass", res);

    // Table: all invalid, program TAR, enable translation.
    mem.m
        .fill(EDU_TABLE_OFF, 8 * regs::tce_entries(s) as usize, 0);
    chip.set_tar(pn, ctx.table_phys(), s);
    let tar = chip.tar(pn);
    chip.set_config(pn, chip.config(pn) | TCE_ENABLE);
    let cfgv = chip.config(pn);
    if tar & (regs::TAR_TABLE_ADDR_MASK | regs::TAR_SIZE_MASK) == ctx.table_phys() | s
        && cfgv & TCE_ENABLE != 0
    {
        r.pass(
            "tar-program",
            &format!("TAR={tar:#018x} PHB_CONFIG={cfgv:#010x}"),
        );
    } else {
        r.fail(
            "tar-program",
            &format!(
                "TAR reads {tar:#018x} (wrote table {:#x} size {s}); PHB_CONFIG={cfgv:#010x}",
                ctx.table_phys()
            ),
        );
    }

    // C. mapped DMA both directions through decoy IO addresses.
    let res = (|| -> Result<String, String> {
        let d3 = pattern(3, 4096);
        let d5 = pattern(5, 4096);
        mem.fill_page(2, &pat_b);
        mem.fill_page(3, &d3);
        mem.fill_page(4, &zero);
        mem.fill_page(5, &d5);
        ctx.tce(3, Some(2), TCE_READ);
        ctx.tce(5, Some(4), TCE_READ | TCE_WRITE);
        ctx.edu.dma_to_device(ctx.io(3), 0, 4096)?;
        ctx.edu.dma_from_device(0, ctx.io(5), 4096)?;
        let got = mem.page(4);
        if got == d3 {
            return Err(
                "to-device DMA read the untranslated page (IO address used as physical)".into(),
            );
        }
        check_page(mem, 4, 0, &pat_b).map_err(|e| format!("data via translation wrong: {e}"))?;
        check_page(mem, 5, 0, &d5)
            .map_err(|e| format!("untranslated write hit the decoy page: {e}"))?;
        check_page(mem, 3, 0, &d3)?;
        if ctx.latched() {
            return Err(format!("error latched on mapped DMA: {}", ctx.regs()));
        }
        Ok(format!(
            "IO {:#x}(R)->phys {:#x} to edu and edu -> IO {:#x}(RW)->phys {:#x}: 4 KiB correct, decoys intact",
            ctx.io(3),
            mem.page_phys(2),
            ctx.io(5),
            mem.page_phys(4)
        ))
    })();
    let mapped_ok = res.is_ok();
    r.result("dma-mapped-both-directions", res);

    // D. a DMA crossing an IO page boundary lands on two unrelated pages.
    let res = (|| -> Result<String, String> {
        let d6 = pattern(6, 4096);
        let d7 = pattern(7, 4096);
        mem.fill_page(6, &d6);
        mem.fill_page(7, &d7);
        mem.fill_page(9, &zero);
        mem.fill_page(11, &zero);
        ctx.tce(6, Some(11), TCE_READ | TCE_WRITE);
        ctx.tce(7, Some(9), TCE_READ | TCE_WRITE);
        // edu buffer holds pat_b from the previous check (reload it anyway).
        ctx.tce(3, Some(2), TCE_READ);
        ctx.edu.dma_to_device(ctx.io(3), 0, 4096)?;
        ctx.edu.dma_from_device(0, ctx.io(6) + 0x800, 4096)?;
        check_page(mem, 11, 0x800, &pat_b[..0x800])?;
        check_page(mem, 11, 0, &zero[..0x800])?;
        check_page(mem, 9, 0, &pat_b[0x800..])?;
        check_page(mem, 9, 0x800, &zero[..0x800])?;
        check_page(mem, 6, 0, &d6)?;
        check_page(mem, 7, 0, &d7)?;
        Ok("4 KiB at IO page offset 0x800 split over two non-adjacent pages correctly".into())
    })();
    r.result("dma-cross-page", res);

    // E. unmapped (TCE never valid), write direction and read direction.
    let res = (|| -> Result<String, String> {
        ctx.clear()?;
        let u = pattern(12, 4096);
        mem.fill_page(12, &u);
        ctx.tce(12, None, 0);
        ctx.edu.dma_from_device(0, ctx.io(12), 4096)?;
        ctx.expect_blocked(&format!("edu->IO {:#x} (TCE 0)", ctx.io(12)), &[(12, &u)])
    })();
    r.result("dma-unmapped-write", res);
    let res = (|| -> Result<String, String> {
        let u = pattern(12, 4096);
        ctx.edu.dma_to_device(ctx.io(12), 0, 4096)?;
        let out = ctx.expect_blocked(&format!("IO {:#x} (TCE 0)->edu", ctx.io(12)), &[(12, &u)])?;
        mem.fill_page(4, &zero);
        ctx.edu.dma_from_device(0, ctx.io(5), 4096)?;
        if mem.page(4) == u {
            return Err("blocked read still delivered the page contents to the device".into());
        }
        Ok(format!("{out}; device did not receive the data"))
    })();
    r.result("dma-unmapped-read", res);

    // F. read-only TCE: device write blocked, device read allowed.
    let res = (|| -> Result<String, String> {
        let ro = pattern(14, 4096);
        let d13 = pattern(13, 4096);
        mem.fill_page(14, &ro);
        mem.fill_page(13, &d13);
        ctx.tce(13, Some(14), TCE_READ);
        ctx.tce(3, Some(2), TCE_READ);
        ctx.edu.dma_to_device(ctx.io(3), 0, 4096)?; // edu holds pat_b
        ctx.edu.dma_from_device(0, ctx.io(13), 4096)?;
        let out = ctx.expect_blocked(
            &format!("edu->IO {:#x} (TCE read-only)", ctx.io(13)),
            &[(14, &ro), (13, &d13)],
        )?;
        ctx.edu.dma_to_device(ctx.io(13), 0, 4096)?;
        mem.fill_page(4, &zero);
        ctx.edu.dma_from_device(0, ctx.io(5), 4096)?;
        check_page(mem, 4, 0, &ro)
            .map_err(|e| format!("{out}; but read through the read-only TCE failed: {e}"))?;
        if ctx.latched() {
            return Err(format!(
                "read via read-only TCE latched an error: {}",
                ctx.regs()
            ));
        }
        Ok(format!("{out}; device read through it works"))
    })();
    r.result("dma-readonly", res);

    // G. out of range: shrink the table (size code 0: 8192 entries, 32 MiB).
    let res = (|| -> Result<String, String> {
        let d15 = pattern(15, 4096);
        let p16 = pattern(16, 4096);
        mem.fill_page(15, &d15);
        mem.fill_page(16, &p16);
        ctx.load_b()?;
        ctx.tce(15, Some(16), TCE_READ | TCE_WRITE);
        chip.set_tar(pn, ctx.table_phys(), 0);
        let r1 = ctx.edu.dma_from_device(0, ctx.io(15), 4096);
        let out = ctx.expect_blocked(
            &format!(
                "edu->IO {:#x} (index {:#x} >= 8192 entries, valid TCE beyond the end)",
                ctx.io(15),
                ctx.io(15) >> 12
            ),
            &[(15, &d15), (16, &p16)],
        );
        chip.set_tar(pn, ctx.table_phys(), ctx.size_code);
        r1?;
        let out = out?;
        ctx.edu.dma_from_device(0, ctx.io(15), 4096)?;
        check_page(mem, 16, 0, &pat_b)
            .map_err(|e| format!("{out}; after restoring size code {}: {e}", ctx.size_code))?;
        Ok(format!(
            "{out}; same IO address translates after restoring size code {}",
            ctx.size_code
        ))
    })();
    r.result("dma-out-of-range", res);

    // H1. a new TCE becomes visible without a flush, even after a fault on it.
    let res = (|| -> Result<String, String> {
        ctx.load_b()?;
        ctx.flush();
        ctx.clear()?;
        let d19 = pattern(19, 4096);
        mem.fill_page(19, &d19);
        mem.fill_page(20, &zero);
        ctx.tce(19, None, 0);
        ctx.edu.dma_from_device(0, ctx.io(19), 4096)?;
        let out = ctx.expect_blocked("first access to invalid TCE", &[(19, &d19)])?;
        ctx.tce(19, Some(20), TCE_READ | TCE_WRITE);
        ctx.edu.dma_from_device(0, ctx.io(19), 4096)?;
        check_page(mem, 20, 0, &pat_b)
            .map_err(|e| format!("{out}; TCE written afterwards (no flush) not used: {e}"))?;
        Ok(format!(
            "{out}; TCE written afterwards used without a flush"
        ))
    })();
    r.result("tce-new-visible-without-flush", res);

    // H2. freed TCE: stale until flush (faithful), or faults at once (off/coherent).
    let res = (|| -> Result<String, String> {
        ctx.load_b()?;
        ctx.flush();
        ctx.clear()?;
        let s18 = pattern(18, 4096);
        let d17 = pattern(17, 4096);
        mem.fill_page(17, &d17);
        mem.fill_page(18, &zero);
        ctx.tce(17, Some(18), TCE_READ | TCE_WRITE);
        ctx.edu.dma_from_device(0, ctx.io(17), 4096)?; // populates the cache
        check_page(mem, 18, 0, &pat_b)?;
        ctx.tce(17, None, 0); // free, no flush
        mem.fill_page(18, &s18);
        ctx.edu.dma_from_device(0, ctx.io(17), 4096)?;
        let stale_used = mem.page(18) == pat_b;
        let latched = ctx.latched();
        let regs = ctx.regs();
        ctx.clear()?;
        let observed = if stale_used && !latched {
            "stale entry still translated"
        } else if !stale_used && latched {
            "faulted at once"
        } else {
            return Err(format!(
                "inconsistent: stale data written={stale_used}, CSR latched={latched} ({regs})"
            ));
        };
        // After a flush (TAR rewrite) it must fault in every mode.
        ctx.flush();
        mem.fill_page(18, &s18);
        ctx.edu.dma_from_device(0, ctx.io(17), 4096)?;
        let after = ctx.expect_blocked("after flush", &[(18, &s18), (17, &d17)])?;
        let want_stale = match ctx.cache.as_str() {
            "faithful" => Some(true),
            "off" | "coherent" => Some(false),
            _ => None,
        };
        match want_stale {
            Some(w) if w == stale_used => Ok(format!(
                "cache={}: freed TCE {observed} before flush; {after}",
                ctx.cache
            )),
            Some(_) => Err(format!(
                "cache={}: freed TCE {observed} before flush, which this mode must not do",
                ctx.cache
            )),
            None => Err(format!(
                "SKIP:cache mode unknown (pass calgary.cache=); freed TCE {observed}; {after}"
            )),
        }
    })();
    match res {
        Err(e) if e.starts_with("SKIP:") => r.skip("tce-stale-until-flush", &e[5..]),
        other => {
            r.result("tce-stale-until-flush", other);
        }
    }

    // I. slot disable: everything blocked, then re-enabled.
    let res = (|| -> Result<String, String> {
        ctx.load_b()?;
        ctx.flush();
        ctx.clear()?;
        let z = pattern(21, 4096);
        mem.fill_page(4, &z);
        ctx.tce(5, Some(4), TCE_READ | TCE_WRITE);
        let c = chip.config(pn);
        chip.set_config(pn, c | SLOT_DISABLE);
        let r1 = ctx.edu.dma_from_device(0, ctx.io(5), 4096);
        let out = ctx.expect_blocked(
            &format!("slot disabled (PHB_CONFIG={:#010x})", chip.config(pn)),
            &[(4, &z)],
        );
        chip.set_config(pn, c & !SLOT_DISABLE);
        r1?;
        let out = out?;
        ctx.edu.dma_from_device(0, ctx.io(5), 4096)?;
        check_page(mem, 4, 0, &pat_b)
            .map_err(|e| format!("{out}; after re-enabling the slot: {e}"))?;
        Ok(format!(
            "{out}; DMA works again after clearing SLOT_DISABLE"
        ))
    })();
    r.result("dma-slot-disabled", res);
    let _ = mapped_ok;
    let _ = ctx.clear();
}
