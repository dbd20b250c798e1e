//! Finding Calgary chips the way Linux does (Rio Grande table in the EBDA,
//! spec §2) and big-endian register access (spec §3).

use crate::sys::Mapping;

pub const PHB_CSR: usize = 0x110;
pub const PHB_PLSSR: usize = 0x120;
pub const PHB_CONFIG: usize = 0x160;
pub const TCE_ENABLE: u32 = 0x2000_0000;
pub const SLOT_DISABLE: u32 = 0x1C00_0000;
pub const CSR_ERR_MASK: u32 = 0xFFE0_FFFF;
pub const TCE_READ: u64 = 1;
pub const TCE_WRITE: u64 = 2;

pub struct RioEntry {
    pub node_id: u8,
    pub bbar: u32,
    pub kind: u8,
}

pub struct RioTable {
    pub ebda: u64,
    pub ebda_note: String,
    pub table_addr: u64,
    pub version: u8,
    pub num_scal: u8,
    pub entries: Vec<RioEntry>,
}

/// Read the EBDA segment from 0x40E. `/dev/mem` read() shows RAM in the
/// first MiB as zeros under STRICT_DEVMEM, mmap() shows the real bytes.
fn ebda_base() -> Result<(u64, String), String> {
    let low = Mapping::new("/dev/mem", 0, 0x1000, false)?;
    let seg = low.rd16(0x40E) as u64;
    if seg != 0 {
        return Ok((seg << 4, format!("segment {seg:#x} from 0x40E")));
    }
    Ok((
        0x9FC00,
        "0x40E reads 0 through /dev/mem; assumed SeaBIOS EBDA 0x9fc00".into(),
    ))
}

pub fn find_rio() -> Result<RioTable, String> {
    let (ebda, note) = ebda_base()?;
    log::debug!("EBDA at {ebda:#x} ({note})");
    if !(0x1000..0xA0000).contains(&ebda) {
        return Err(format!("EBDA base {ebda:#x} implausible ({note})"));
    }
    // Map from the EBDA to the end of conventional memory plus slack.
    let len = (0xA0000 - ebda) as usize;
    let m = Mapping::new("/dev/mem", ebda, len.max(0x1000), false)?;
    let in_page = (ebda - m.base) as usize;
    let avail = m.len() - in_page;
    let rd16 = |o: usize| -> Option<u16> {
        if o + 2 <= avail {
            Some(m.rd16(in_page + o))
        } else {
            None
        }
    };
    let rd8 = |o: usize| -> Option<u8> {
        if o < avail {
            Some(m.rd8(in_page + o))
        } else {
            None
        }
    };
    let mut off: usize = 0x180;
    let mut prev: usize = 0;
    let mut hdr = None;
    while off > prev {
        let id = match rd16(off + 2) {
            Some(v) => v,
            None => break,
        };
        if id == 0x4752 {
            hdr = Some(off + 4);
            break;
        }
        prev = off;
        off = match rd16(off) {
            Some(v) => v as usize,
            None => break,
        };
    }
    let h = hdr.ok_or_else(|| {
        format!("no Rio table (no block with id 0x4752 in EBDA chain at {ebda:#x}; {note})")
    })?;
    let version = rd8(h).ok_or("truncated Rio header")?;
    let num_scal = rd8(h + 1).ok_or("truncated Rio header")?;
    let num_rio = rd8(h + 2).ok_or("truncated Rio header")?;
    let (scal_sz, rio_sz) = if version >= 3 { (12, 15) } else { (11, 13) };
    let mut p = h + 3 + num_scal as usize * scal_sz;
    let mut entries = Vec::new();
    for _ in 0..num_rio {
        let node_id = rd8(p).ok_or("truncated Rio entry")?;
        let mut b = [0u8; 4];
        for (i, x) in b.iter_mut().enumerate() {
            *x = rd8(p + 1 + i).ok_or("truncated Rio entry")?;
        }
        let kind = rd8(p + 5).ok_or("truncated Rio entry")?;
        entries.push(RioEntry {
            node_id,
            bbar: u32::from_le_bytes(b),
            kind,
        });
        p += rio_sz;
    }
    Ok(RioTable {
        ebda,
        ebda_note: note,
        table_addr: ebda + h as u64,
        version,
        num_scal,
        entries,
    })
}

/// One Calgary chip: its register window.
#[allow(dead_code)]
pub struct Chip {
    pub index: usize,
    pub bbar: u32,
    pub regs: Mapping,
}

impl Chip {
    pub fn open(index: usize, bbar: u32) -> Result<Chip, String> {
        let regs = Mapping::new("/dev/mem", bbar as u64, 0x10_0000, true)?;
        Ok(Chip { index, bbar, regs })
    }
    pub fn r32(&self, off: usize) -> u32 {
        u32::from_be(self.regs.rd32(off))
    }
    pub fn w32(&self, off: usize, v: u32) {
        self.regs.wr32(off, v.to_be())
    }
    /// 64-bit big-endian register as two 32-bit halves (lower offset = high bits).
    pub fn r64(&self, off: usize) -> u64 {
        ((self.r32(off) as u64) << 32) | self.r32(off + 4) as u64
    }
    pub fn w64(&self, off: usize, v: u64) {
        self.w32(off, (v >> 32) as u32);
        self.w32(off + 4, v as u32);
    }
    pub fn stuff(&self, phb: usize) -> u32 {
        self.r32(0x4020 + 0x1000 * phb)
    }
    pub fn phb_reg(phb: usize, reg: usize) -> usize {
        0x8000 + 0x1000 * phb + reg
    }
    pub fn csr(&self, phb: usize) -> u32 {
        self.r32(Self::phb_reg(phb, PHB_CSR))
    }
    pub fn plssr(&self, phb: usize) -> u32 {
        self.r32(Self::phb_reg(phb, PHB_PLSSR))
    }
    pub fn clear_csr(&self, phb: usize) {
        self.w32(Self::phb_reg(phb, PHB_CSR), 0)
    }
    pub fn config(&self, phb: usize) -> u32 {
        self.r32(Self::phb_reg(phb, PHB_CONFIG))
    }
    pub fn set_config(&self, phb: usize, v: u32) {
        self.w32(Self::phb_reg(phb, PHB_CONFIG), v);
        let _ = self.config(phb);
    }
    pub fn tar_off(phb: usize) -> usize {
        0x580 + 8 * phb
    }
    pub fn tar(&self, phb: usize) -> u64 {
        self.r64(Self::tar_off(phb))
    }
    /// Program TAR like Linux: keep unrelated bits, set address and size.
    pub fn set_tar(&self, phb: usize, table: u64, size_code: u64) {
        let old = self.tar(phb);
        let v =
            (old & !0x0000_FFFF_FFFF_800Fu64) | (table & 0x0000_FFFF_FFFF_8000) | (size_code & 7);
        self.w64(Self::tar_off(phb), v);
    }
    /// Flush the TCE cache: rewrite TAR with its own value.
    pub fn flush(&self, phb: usize) {
        let v = self.tar(phb);
        self.w64(Self::tar_off(phb), v);
    }
}

/// The buses a PHB debug STUFF value names (spec §2): bits 23..16 the
/// first bus, bits 15..8 the last. Read as Linux 2.6.23+ reads it: an end
/// byte of 0 is the older "single bus" encoding; otherwise `first..=last`,
/// which for the single-bus encoding every era accepts (last = first) is
/// the first bus alone. An end below the start names no bus (2.6.20–2.6.22
/// walk `start..=end` and would map nothing).
pub fn stuff_buses(stuff: u32) -> std::ops::RangeInclusive<u8> {
    let first = ((stuff >> 16) & 0xff) as u8;
    let last = ((stuff >> 8) & 0xff) as u8;
    if last == 0 {
        first..=first
    } else {
        first..=last
    }
}

/// A PHB as discovered: chip, index on chip, bus number.
#[derive(Clone)]
pub struct Phb {
    pub chip: usize,
    pub phb: usize,
    pub bus: u8,
    pub stuff: u32,
}

#[allow(dead_code)] // decoding for main.rs's bus look-ups
impl Phb {
    /// The buses behind this PHB, from its STUFF value.
    pub fn buses(&self) -> std::ops::RangeInclusive<u8> {
        stuff_buses(self.stuff)
    }
    /// Whether `bus` is behind this PHB.
    pub fn has_bus(&self, bus: u8) -> bool {
        self.buses().contains(&bus)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stuff_single_bus_both_encodings() {
        // last = first (what the machine reports) and the older end-0 form.
        for v in [0x0024_2400u32, 0x0024_0000] {
            assert_eq!(stuff_buses(v), 0x24..=0x24, "{v:#010x}");
        }
        // Bus 0 behind a PHB: 0x00000000 is bus 0 alone.
        assert_eq!(stuff_buses(0), 0..=0);
    }

    #[test]
    fn stuff_bus_range_and_membership() {
        assert_eq!(stuff_buses(0x0028_2a00), 0x28..=0x2a);
        let p = Phb {
            chip: 0,
            phb: 2,
            bus: 0x28,
            stuff: 0x0028_2a00,
        };
        assert!(p.has_bus(0x29) && p.has_bus(0x2a) && !p.has_bus(0x2b) && !p.has_bus(0x27));
        // End below start: no bus (as 2.6.20's walk reads it).
        assert!(stuff_buses(0x0030_2000).is_empty());
        // Low byte and top byte are not part of the range.
        assert_eq!(stuff_buses(0xff24_24ff), 0x24..=0x24);
    }
}
