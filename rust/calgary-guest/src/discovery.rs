//! Platform discovery the way Linux does it: the Rio table, each chip's
//! register window, each PHB's bus from STUFF, checked against sysfs and
//! against the machine layout the runner booted (`calgary.layout=rio|legacy`,
//! `calgary.bus0_phb=on|off`; the numbering is calgary-core's
//! `layout::Platform`).

use crate::*;

pub(crate) struct Platform {
    pub(crate) chips: Vec<Chip>,
    pub(crate) phbs: Vec<Phb>,
    pub(crate) calioc2: bool,
}

impl Platform {
    pub(crate) fn phb_of(&self, dev: &PciDev) -> Option<&Phb> {
        self.phbs.iter().find(|p| p.has_bus(dev.bus))
    }
    pub(crate) fn chip(&self, p: &Phb) -> &Chip {
        &self.chips[p.chip]
    }
    pub(crate) fn name(p: &Phb) -> String {
        format!("calgary{}.{}(bus {:#04x})", p.chip, p.phb, p.bus)
    }
}

/// The machine layout the runner says it booted (default: Rio layout, bus 0
/// not behind a PHB), for `chips` chips.
pub(crate) fn machine_layout(cfg: &Config, chips: usize) -> Result<layout::Platform, String> {
    let name = cfg.get_or("layout", "rio");
    let lay = layout::Layout::from_name(name)
        .ok_or_else(|| format!("calgary.layout={name}: not a layout (rio, legacy)"))?;
    let bus0 = match cfg.get_or("bus0_phb", "off") {
        "on" | "1" => true,
        "off" | "0" => false,
        v => return Err(format!("calgary.bus0_phb={v}: not on/off")),
    };
    layout::Platform::new(lay, bus0, chips).map_err(|e| e.to_string())
}

/// How the chips and PHBs found differ from what the layout puts where:
/// every chip's BBAR (from the Rio table, `bbars[chip]`) and every PHB's
/// bus (from STUFF, `(chip, phb, bus)`); in the legacy layout also what
/// Linux 2.6.18 and 2.6.19 derive from the buses (register window from the
/// bus number, PHB index from the scan order). Empty when all agree.
pub(crate) fn numbering_problems(
    plat: &layout::Platform,
    bbars: &[u32],
    phbs: &[(usize, usize, u8)],
) -> Vec<String> {
    let mut out = Vec::new();
    for (c, &bbar) in bbars.iter().enumerate() {
        let want = plat.bbar(c);
        if want != Some(bbar) {
            out.push(format!(
                "chip {c} BBAR {bbar:#x}, the {} layout gives {want:#x?}",
                plat.layout()
            ));
        }
    }
    for &(c, p, bus) in phbs {
        let want = plat.phb_bus(c, p);
        if want != Some(bus) {
            out.push(format!(
                "calgary{c}.{p} STUFF bus {bus:#x}, the {} layout{} gives {want:#x?}",
                plat.layout(),
                if plat.bus0_phb() {
                    " with bus0-phb"
                } else {
                    ""
                }
            ));
        }
    }
    if plat.layout() == layout::Layout::Legacy {
        for &(c, p, bus) in phbs {
            let Some(&bbar) = bbars.get(c) else { continue };
            for (kernel, got) in [
                ("2.6.18", layout::linux_2_6_18_bbar(bus)),
                ("2.6.19", layout::linux_2_6_19_bbar(bus)),
            ] {
                if got != bbar {
                    out.push(format!(
                        "calgary{c}.{p} on bus {bus:#x}: Linux {kernel} maps {got:#x}, the chip is at {bbar:#x}"
                    ));
                }
            }
        }
        let buses: Vec<u8> = phbs.iter().map(|&(_, _, b)| b).collect();
        for (bus, id) in layout::linux_legacy_phb_ids(&buses) {
            if let Some(&(c, p, _)) = phbs.iter().find(|&&(_, _, b)| b == bus) {
                if p != id {
                    out.push(format!(
                        "calgary{c}.{p} on bus {bus:#x}: Linux 2.6.18/19 number it PHB {id} (scan order)"
                    ));
                }
            }
        }
    }
    out
}

pub(crate) fn discover(r: &mut Report, cfg: &Config, devs: &[PciDev]) -> Option<Platform> {
    let rio = match calgary::find_rio() {
        Ok(t) => t,
        Err(e) => {
            r.skip(
                "rio-table",
                &format!("no Rio table: {e}; not a Calgary machine, Calgary checks skipped"),
            );
            return None;
        }
    };
    let mut chips = Vec::new();
    let mut errs = Vec::new();
    for e in rio.calgary_entries() {
        match Chip::open(chips.len(), e.bbar) {
            Ok(c) => chips.push(c),
            Err(x) => errs.push(format!("node {} BBAR {:#x}: {x}", e.node_id, e.bbar)),
        }
    }
    let desc = format!(
        "EBDA {:#x} ({}), table at {:#x}, version {}, {} scalability, {} RIO entries, Calgary BBARs [{}]",
        rio.ebda,
        rio.ebda_note,
        rio.table_addr,
        rio.parsed.version,
        rio.parsed.scal.len(),
        rio.parsed.rio.len(),
        rio.calgary_entries().map(|e| format!("{:#x}", e.bbar)).collect::<Vec<_>>().join(",")
    );
    if chips.is_empty() {
        r.fail(
            "rio-table",
            &format!("{desc}; no usable Calgary entry {}", errs.join("; ")),
        );
        return None;
    }
    if !errs.is_empty() {
        r.fail("rio-table", &format!("{desc}; {}", errs.join("; ")));
    } else {
        r.pass("rio-table", &desc);
    }
    let mut phbs = Vec::new();
    let mut problems = Vec::new();
    let mut calioc2 = false;
    let mut descs = Vec::new();
    let mut found = Vec::new();
    for c in &chips {
        for p in 0..PHBS_PER_CHIP {
            let stuff = c.stuff(p);
            let bus = *regs::stuff_buses(stuff).start();
            let fun = devs
                .iter()
                .find(|d| d.bus == bus && d.slot == 0 && d.is_calgary_phb());
            match fun {
                Some(f) => {
                    if f.device == Variant::CalIoc2.device_id() {
                        calioc2 = true;
                    }
                    descs.push(format!("calgary{}.{} bus {:#04x} ({:04x}:{:04x})", c.index, p, bus, f.vendor, f.device));
                    info(&format!("phb calgary{}.{} bus={bus:#04x} stuff={stuff:#010x}", c.index, p));
                    found.push((c.index, p, bus));
                    phbs.push(Phb { chip: c.index, phb: p, bus, stuff });
                }
                None => problems.push(format!(
                    "calgary{}.{}: STUFF={stuff:#010x} names bus {bus:#x} but sysfs has no IBM PHB function at 0000:{bus:02x}:00.0",
                    c.index, p
                )),
            }
        }
    }
    match machine_layout(cfg, chips.len()) {
        Err(e) => r.fail("phb-bus-numbering", &e),
        Ok(lay) => {
            let bbars: Vec<u32> = chips.iter().map(|c| c.bbar).collect();
            let numbering = numbering_problems(&lay, &bbars, &found);
            let what = format!(
                "{} layout{}",
                lay.layout(),
                if lay.bus0_phb() {
                    ", bus 0 behind calgary0.0"
                } else {
                    ""
                }
            );
            if numbering.is_empty() {
                let buses: Vec<String> = found
                    .iter()
                    .map(|&(c, p, b)| format!("calgary{c}.{p}={b:#04x}"))
                    .collect();
                r.pass(
                    "phb-bus-numbering",
                    &format!(
                        "BBARs [{}] and PHB buses [{}] are where the {what} puts them (calgary_core::layout::Platform){}",
                        bbars.iter().map(|b| format!("{b:#x}")).collect::<Vec<_>>().join(","),
                        buses.join(","),
                        if lay.layout() == layout::Layout::Legacy {
                            "; Linux 2.6.18/2.6.19 compute the same windows and PHB numbers"
                        } else {
                            ""
                        }
                    ),
                );
            } else {
                r.fail(
                    "phb-bus-numbering",
                    &format!("{what}: {}", numbering.join("; ")),
                );
            }
        }
    }
    if problems.is_empty() {
        r.pass(
            "phb-buses",
            &format!(
                "STUFF bus numbers match sysfs PHB functions: {}",
                descs.join(", ")
            ),
        );
    } else {
        r.fail(
            "phb-buses",
            &format!("{}; found: {}", problems.join("; "), descs.join(", ")),
        );
    }
    Some(Platform {
        chips,
        phbs,
        calioc2,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cfg(pairs: &[(&str, &str)]) -> Config {
        Config {
            kv: pairs
                .iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect(),
            cmdline: String::new(),
        }
    }

    /// (chip, phb, bus) of every PHB of `chips` chips as `plat` numbers them.
    fn phbs_of(plat: &layout::Platform, chips: usize) -> Vec<(usize, usize, u8)> {
        (0..chips)
            .flat_map(|c| (0..PHBS_PER_CHIP).map(move |p| (c, p)))
            .map(|(c, p)| (c, p, plat.phb_bus(c, p).expect("in range")))
            .collect()
    }

    #[test]
    fn layout_from_parameters() {
        let p = machine_layout(&cfg(&[]), 2).expect("default");
        assert_eq!((p.layout(), p.bus0_phb()), (layout::Layout::Rio, false));
        let p =
            machine_layout(&cfg(&[("layout", "legacy"), ("bus0_phb", "on")]), 2).expect("legacy");
        assert_eq!((p.layout(), p.bus0_phb()), (layout::Layout::Legacy, true));
        assert!(machine_layout(&cfg(&[("layout", "x366")]), 2).is_err());
        assert!(machine_layout(&cfg(&[("bus0_phb", "yes")]), 2).is_err());
        assert!(machine_layout(&cfg(&[("bus0_phb", "on")]), 0).is_err());
    }

    #[test]
    fn rio_numbering_as_the_machine_makes_it() {
        let plat = machine_layout(&cfg(&[]), 2).expect("rio");
        let phbs = phbs_of(&plat, 2);
        assert_eq!(phbs[0], (0, 0, 0x20));
        assert_eq!(phbs[4], (1, 0, 0x30));
        let bbars = [0xfef0_0000, 0xff00_0000];
        assert!(numbering_problems(&plat, &bbars, &phbs).is_empty());
        // The default numbering is wrong for a bus0-phb machine: PHB 0 is bus 0.
        let b0 = machine_layout(&cfg(&[("bus0_phb", "on")]), 2).expect("bus0");
        let p = numbering_problems(&b0, &bbars, &phbs);
        assert_eq!(p.len(), 1, "{p:?}");
        assert!(p[0].contains("calgary0.0 STUFF bus 0x20"), "{p:?}");
        let phbs0 = phbs_of(&b0, 2);
        assert_eq!(phbs0[0], (0, 0, 0));
        assert_eq!(phbs0[1], (0, 1, 0x24));
        assert!(numbering_problems(&b0, &bbars, &phbs0).is_empty());
    }

    #[test]
    fn legacy_numbering_and_the_old_kernels_formulas() {
        for bus0 in ["off", "on"] {
            let plat = machine_layout(&cfg(&[("layout", "legacy"), ("bus0_phb", bus0)]), 2)
                .expect("legacy");
            let phbs = phbs_of(&plat, 2);
            let bbars: Vec<u32> = (0..2).map(|c| plat.bbar(c).expect("bbar")).collect();
            assert!(
                numbering_problems(&plat, &bbars, &phbs).is_empty(),
                "bus0-phb={bus0}: {:?}",
                numbering_problems(&plat, &bbars, &phbs)
            );
            // Chip 1 is on buses 5..8, chip 0 on 0..3 or 1..4.
            assert_eq!(phbs[4], (1, 0, 5));
            assert_eq!(phbs[0].2, if bus0 == "on" { 0 } else { 1 });
        }
        let plat = machine_layout(&cfg(&[("layout", "legacy")]), 2).expect("legacy");
        let bbars = [0xfda0_0000, 0xfdb0_0000];
        // A chip at the Rio-layout window: the old kernels would map elsewhere.
        let p = numbering_problems(&plat, &[0xfef0_0000, 0xfdb0_0000], &phbs_of(&plat, 2));
        assert!(
            p.iter().any(|l| l.contains("chip 0 BBAR 0xfef00000")),
            "{p:?}"
        );
        assert!(
            p.iter().any(|l| l.contains("Linux 2.6.18 maps 0xfda00000")),
            "{p:?}"
        );
        // Two PHBs swapped: the scan order numbers them differently.
        let mut swapped = phbs_of(&plat, 2);
        swapped.swap(0, 1);
        swapped[0].1 = 0;
        swapped[1].1 = 1;
        let p = numbering_problems(&plat, &bbars, &swapped);
        assert!(p.iter().any(|l| l.contains("scan order")), "{p:?}");
    }
}
