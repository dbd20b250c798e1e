//! "Pre-map everything": one identity TCE table covering all of RAM, and
//! translation switched on for chosen PHBs, so that a kernel without a
//! Calgary driver (whose DMA addresses are physical addresses) keeps
//! working with translation on. The one routine behind the benchmark's
//! `premap` and the in-guest validation tool's pre-mapped suite.

use crate::{Mapping, Window};
use calgary_core::regs;

/// Largest TAR size code (8192 << 7 entries: the whole 4 GiB IO space).
pub const MAX_SIZE_CODE: u64 = 7;

/// Geometry of an identity table.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Geometry {
    /// TAR size code.
    pub size_code: u64,
    /// Entries (`8192 << size_code`).
    pub entries: usize,
}

impl Geometry {
    /// Bytes the table occupies.
    pub fn bytes(&self) -> usize {
        self.entries * 8
    }
}

/// The smallest table that maps every page below `ram_end`, or the
/// largest table when RAM reaches beyond what one table maps.
pub fn geometry_for(ram_end: u64) -> Geometry {
    let pages = ram_end.div_ceil(4096);
    let mut s = 0;
    while regs::tce_entries(s) < pages && s < MAX_SIZE_CODE {
        s += 1;
    }
    Geometry {
        size_code: s,
        entries: regs::tce_entries(s) as usize,
    }
}

/// The identity TCE for IO page `i`: real page `i`, read and write.
pub fn identity_tce(i: u64) -> u64 {
    ((i << 12) & regs::TCE_RPN_MASK) | regs::TCE_READ | regs::TCE_WRITE
}

/// Writes `entries` identity TCEs (big-endian, as the chip reads them) at
/// offset `off` of `mem`.
pub fn write_identity_table(mem: &Mapping, off: usize, entries: usize) {
    for i in 0..entries {
        mem.wr64(off + 8 * i, identity_tce(i as u64).to_be());
    }
}

/// Points PHB `phb` at the table at physical `table` with `size_code`,
/// clears its error status and slot-disable bits and sets TCE_ENABLE.
/// Returns PHB_CONFIG as read back; an error when translation did not
/// switch on.
pub fn enable_translation(
    win: &Window,
    phb: usize,
    table: u64,
    size_code: u64,
) -> Result<u32, String> {
    win.set_tar(phb, table, size_code);
    win.clear_csr(phb);
    let cfg = win.config(phb);
    let now = win.set_config(phb, (cfg & !regs::PHB_SLOT_DISABLE) | regs::PHB_TCE_ENABLE);
    if now & regs::PHB_TCE_ENABLE == 0 {
        return Err(format!(
            "PHB {phb}: translation did not switch on (PHB_CONFIG {now:#010x})"
        ));
    }
    Ok(now)
}

/// End of the highest "System RAM" range in `/proc/iomem` text, or None
/// when there is none (an unprivileged reader sees all addresses as 0).
pub fn ram_end(iomem: &str) -> Option<u64> {
    iomem
        .lines()
        .filter(|l| !l.starts_with(' ') && l.contains("System RAM"))
        .filter_map(|l| {
            let range = l.split(':').next()?.trim();
            let end = range.split('-').nth(1)?;
            u64::from_str_radix(end.trim(), 16).ok()
        })
        .filter(|&e| e > 0)
        .max()
        .map(|e| e + 1)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::map::tests::scratch;
    use crate::window::WINDOW_LEN;

    #[test]
    fn geometry_covers_ram() {
        assert_eq!(
            geometry_for(32 << 20),
            Geometry {
                size_code: 0,
                entries: 8192
            }
        );
        assert_eq!(geometry_for((32 << 20) + 1).size_code, 1);
        assert_eq!(geometry_for(1 << 30).entries, 262_144);
        assert_eq!(geometry_for(1 << 30).size_code, 5);
        assert_eq!(geometry_for(1 << 40).size_code, MAX_SIZE_CODE);
    }

    #[test]
    fn ram_end_from_iomem() {
        let t = "00000000-00000fff : Reserved\n00001000-0009fbff : System RAM\n\
                 00100000-3ffdffff : System RAM\n  01000000-01ffffff : Kernel code\n\
                 fef00000-feffffff : calgary\n";
        assert_eq!(ram_end(t), Some(0x3ffe_0000));
        assert_eq!(ram_end("00000000-00000000 : System RAM\n"), None);
    }

    #[test]
    fn identity_table_is_big_endian_read_write() {
        let (path, _f) = scratch(3 * 8192);
        let m = Mapping::new(path.to_str().expect("utf-8"), 0, 3 * 8192, false).expect("map");
        write_identity_table(&m, 8, 1000);
        assert_eq!(m.rd64(0), 0, "nothing before the table");
        assert_eq!(m.read_bytes(8, 8), vec![0, 0, 0, 0, 0, 0, 0, 3]);
        assert_eq!(u64::from_be(m.rd64(8 + 8 * 999)), (999 << 12) | 3);
        assert_eq!(m.rd64(8 + 8 * 1000), 0, "nothing after the table");
        std::fs::remove_file(path).ok();
    }

    #[test]
    fn enable_translation_programs_tar_and_config() {
        let (path, _f) = scratch(WINDOW_LEN);
        let ps = path.to_str().expect("utf-8");
        let w = Window::from_mapping(Mapping::new(ps, 0, WINDOW_LEN, false).expect("map"))
            .expect("window");
        w.w32(
            regs::phb_reg(3, regs::PHB_CSR_OFFSET),
            0x8000_0000, // an error left over
        );
        w.set_config(3, regs::PHB_SLOT_DISABLE | regs::PHB_DAC_DISABLE);
        let cfg = enable_translation(&w, 3, 0x1000_0000, 5).expect("enabled");
        assert_eq!(cfg, regs::PHB_TCE_ENABLE | regs::PHB_DAC_DISABLE);
        assert_eq!(w.tar(3) & regs::TAR_SW_BITS, 0x1000_0005);
        assert_eq!(w.csr(3), 0);
        assert_eq!(w.config(2), 0, "other PHBs untouched");
        std::fs::remove_file(path).ok();
    }
}
