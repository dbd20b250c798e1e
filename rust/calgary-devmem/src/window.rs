//! One Calgary chip's register window (1 MiB at the chip's BBAR). The
//! registers are big-endian; a 64-bit register is accessed as two 32-bit
//! halves, the lower offset holding bits 63..32 (as Linux does).

use crate::Mapping;
use calgary_core::regs;

/// Size of one chip's register window.
pub const WINDOW_LEN: usize = 1 << 20;

/// A chip's register window, mapped from `/dev/mem` (or any [`Mapping`]).
pub struct Window {
    map: Mapping,
}

impl Window {
    /// The window of the chip whose BBAR is `bbar`.
    pub fn open(bbar: u64) -> Result<Window, String> {
        Ok(Window {
            map: Mapping::phys(bbar, WINDOW_LEN)?,
        })
    }

    /// A window over an existing mapping (at least [`WINDOW_LEN`] bytes).
    pub fn from_mapping(map: Mapping) -> Result<Window, String> {
        if map.len() < WINDOW_LEN {
            return Err(format!(
                "register window needs {WINDOW_LEN:#x} bytes, mapping has {:#x}",
                map.len()
            ));
        }
        Ok(Window { map })
    }

    pub fn r32(&self, off: u64) -> u32 {
        u32::from_be(self.map.rd32(off as usize))
    }
    pub fn w32(&self, off: u64, v: u32) {
        self.map.wr32(off as usize, v.to_be())
    }
    pub fn r64(&self, off: u64) -> u64 {
        (u64::from(self.r32(off)) << 32) | u64::from(self.r32(off + 4))
    }
    pub fn w64(&self, off: u64, v: u64) {
        self.w32(off, (v >> 32) as u32);
        self.w32(off + 4, v as u32);
    }

    /// PHB `phb`'s TCE Address Register.
    pub fn tar(&self, phb: usize) -> u64 {
        self.r64(regs::tar(phb))
    }
    /// Points PHB `phb` at a TCE table: keeps TAR's other bits, sets the
    /// table address and size code (as Linux programs it).
    pub fn set_tar(&self, phb: usize, table: u64, size_code: u64) {
        let old = self.tar(phb);
        let v = (old & !regs::TAR_SW_BITS)
            | (table & regs::TAR_TABLE_ADDR_MASK)
            | (size_code & regs::TAR_SIZE_MASK);
        self.w64(regs::tar(phb), v);
    }
    /// PHB_CONFIG of PHB `phb`.
    pub fn config(&self, phb: usize) -> u32 {
        self.r32(regs::phb_reg(phb, regs::PHB_CONFIG_RW_OFFSET))
    }
    /// Writes PHB_CONFIG and reads it back (the read flushes the write).
    pub fn set_config(&self, phb: usize, v: u32) -> u32 {
        self.w32(regs::phb_reg(phb, regs::PHB_CONFIG_RW_OFFSET), v);
        self.config(phb)
    }
    /// PHB `phb`'s error status (CSR).
    pub fn csr(&self, phb: usize) -> u32 {
        self.r32(regs::phb_reg(phb, regs::PHB_CSR_OFFSET))
    }
    pub fn clear_csr(&self, phb: usize) {
        self.w32(regs::phb_reg(phb, regs::PHB_CSR_OFFSET), 0)
    }
    /// PHB `phb`'s PLSSR (low 32 bits of the IO address of a latched error).
    pub fn plssr(&self, phb: usize) -> u32 {
        self.r32(regs::phb_reg(phb, regs::PHB_PLSSR_OFFSET))
    }
    /// PHB `phb`'s debug STUFF register (its bus range, see
    /// `calgary_core::regs::stuff_buses`).
    pub fn stuff(&self, phb: usize) -> u32 {
        self.r32(regs::stuff(phb))
    }
    /// Flushes PHB `phb`'s TCE cache the Calgary way: TAR rewritten with
    /// its own value.
    pub fn flush(&self, phb: usize) {
        let v = self.tar(phb);
        self.w64(regs::tar(phb), v);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::map::tests::scratch;

    #[test]
    fn registers_are_big_endian_with_the_high_half_first() {
        let (path, _f) = scratch(WINDOW_LEN);
        let ps = path.to_str().expect("utf-8");
        let w = Window::from_mapping(Mapping::new(ps, 0, WINDOW_LEN, false).expect("map"))
            .expect("window");
        let raw = Mapping::new(ps, 0, WINDOW_LEN, false).expect("map");
        w.w64(regs::tar(2), 0x0011_2233_4455_6677);
        let off = regs::tar(2) as usize;
        assert_eq!(
            raw.read_bytes(off, 8),
            vec![0x00, 0x11, 0x22, 0x33, 0x44, 0x55, 0x66, 0x77]
        );
        assert_eq!(w.tar(2), 0x0011_2233_4455_6677);
        std::fs::remove_file(path).ok();
    }

    #[test]
    fn set_tar_keeps_the_other_bits() {
        let (path, _f) = scratch(WINDOW_LEN);
        let ps = path.to_str().expect("utf-8");
        let w = Window::from_mapping(Mapping::new(ps, 0, WINDOW_LEN, false).expect("map"))
            .expect("window");
        // bits outside address/valid/size must survive
        w.w64(regs::tar(1), 0xABCD_0000_0000_0000 | 0x7008);
        w.set_tar(1, 0x1000_0000, 3);
        assert_eq!(w.tar(1), 0xABCD_0000_1000_7003);
        std::fs::remove_file(path).ok();
    }

    #[test]
    fn a_short_mapping_is_not_a_window() {
        let (path, _f) = scratch(4096);
        let m = Mapping::new(path.to_str().expect("utf-8"), 0, 4096, false).expect("map");
        assert!(Window::from_mapping(m).is_err());
        std::fs::remove_file(path).ok();
    }
}
