//! Platform discovery the way Linux does it: the Rio table, each chip's
//! register window, each PHB's bus from STUFF, checked against sysfs.

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

pub(crate) fn discover(r: &mut Report, devs: &[PciDev]) -> Option<Platform> {
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
    let mut numbering = Vec::new();
    for c in &chips {
        for p in 0..PHBS_PER_CHIP {
            let stuff = c.stuff(p);
            let bus = *regs::stuff_buses(stuff).start();
            let fun = devs
                .iter()
                .find(|d| d.bus == bus && d.slot == 0 && d.is_calgary_phb());
            let expect_bus = layout::rio_phb_bus(c.index, p);
            match fun {
                Some(f) => {
                    if f.device == Variant::CalIoc2.device_id() {
                        calioc2 = true;
                    }
                    descs.push(format!("calgary{}.{} bus {:#04x} ({:04x}:{:04x})", c.index, p, bus, f.vendor, f.device));
                    info(&format!("phb calgary{}.{} bus={bus:#04x} stuff={stuff:#010x}", c.index, p));
                    if Some(bus) != expect_bus {
                        numbering.push(format!("calgary{}.{} STUFF bus {bus:#x}, the Rio layout gives {expect_bus:#x?}", c.index, p));
                    }
                    phbs.push(Phb { chip: c.index, phb: p, bus, stuff });
                }
                None => problems.push(format!(
                    "calgary{}.{}: STUFF={stuff:#010x} names bus {bus:#x} but sysfs has no IBM PHB function at 0000:{bus:02x}:00.0",
                    c.index, p
                )),
            }
        }
    }
    if numbering.is_empty() {
        r.pass(
            "phb-bus-numbering",
            "every PHB is on its Rio-layout bus (calgary_core::layout::rio_phb_bus)",
        );
    } else {
        r.fail("phb-bus-numbering", &numbering.join("; "));
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
