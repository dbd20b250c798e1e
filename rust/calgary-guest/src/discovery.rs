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
        self.phbs.iter().find(|p| {
            let last = ((p.stuff >> 8) & 0xff) as u8;
            dev.bus == p.bus || (last > p.bus && dev.bus >= p.bus && dev.bus <= last)
        })
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
    for e in rio.entries.iter().filter(|e| e.kind == 4 || e.kind == 5) {
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
        rio.version,
        rio.num_scal,
        rio.entries.len(),
        rio.entries.iter().filter(|e| e.kind == 4 || e.kind == 5).map(|e| format!("{:#x}", e.bbar)).collect::<Vec<_>>().join(",")
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
        for p in 0..4 {
            let stuff = c.stuff(p);
            let bus = ((stuff >> 16) & 0xff) as u8;
            let fun = devs
                .iter()
                .find(|d| d.bus == bus && d.slot == 0 && d.is_calgary_phb());
            let expect_bus = 0x20 + 4 * (4 * c.index + p) as u8;
            match fun {
                Some(f) => {
                    if f.device == 0x0308 {
                        calioc2 = true;
                    }
                    descs.push(format!("calgary{}.{} bus {:#04x} ({:04x}:{:04x})", c.index, p, bus, f.vendor, f.device));
                    info(&format!("phb calgary{}.{} bus={bus:#04x} stuff={stuff:#010x}", c.index, p));
                    if bus != expect_bus {
                        numbering.push(format!("calgary{}.{} STUFF bus {bus:#x} != 0x20+4*(4c+p) = {expect_bus:#x}", c.index, p));
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
            "every PHB p of chip c is bus 0x20+4*(4c+p)",
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
