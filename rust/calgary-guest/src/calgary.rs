//! Finding Calgary chips the way Linux does (Rio Grande table in the EBDA,
//! spec §2) and their register windows (spec §3). The table format, the
//! register map and the STUFF encoding are calgary-core's; physical memory
//! and the windows are calgary-devmem's.

use calgary_core::regs;
use calgary_core::rio::{self, ParsedRio, RioDetail, BDA_EBDA_SEGMENT};
use calgary_devmem::{Mapping, Window};

/// Where SeaBIOS puts the EBDA with `-m` >= 1 MiB, used when the BDA word
/// reads 0 through `/dev/mem`.
const SEABIOS_EBDA: u64 = 0x9_FC00;
/// End of conventional memory: the EBDA lies below it.
const CONVENTIONAL_END: u64 = 0xA_0000;

pub struct RioTable {
    pub ebda: u64,
    pub ebda_note: String,
    pub table_addr: u64,
    pub parsed: ParsedRio,
}

impl RioTable {
    /// The Calgary entries, in table order.
    pub fn calgary_entries(&self) -> impl Iterator<Item = &RioDetail> {
        self.parsed.rio.iter().filter(|e| e.is_calgary())
    }
}

/// Read the EBDA segment from the BDA. `/dev/mem` read() shows RAM in the
/// first MiB as zeros under STRICT_DEVMEM, mmap() shows the real bytes.
fn ebda_base() -> Result<(u64, String), String> {
    let low = Mapping::new("/dev/mem", 0, 0x1000, false)?;
    let seg = u64::from(low.rd16(BDA_EBDA_SEGMENT));
    if seg != 0 {
        return Ok((
            seg << 4,
            format!("segment {seg:#x} from {BDA_EBDA_SEGMENT:#x}"),
        ));
    }
    Ok((
        SEABIOS_EBDA,
        format!("{BDA_EBDA_SEGMENT:#x} reads 0 through /dev/mem; assumed SeaBIOS EBDA {SEABIOS_EBDA:#x}"),
    ))
}

/// The Rio table as Linux finds it: an image of low memory (the BDA's
/// EBDA pointer and the EBDA up to the end of conventional memory) handed
/// to calgary-core's parser.
pub fn find_rio() -> Result<RioTable, String> {
    let (ebda, note) = ebda_base()?;
    log::debug!("EBDA at {ebda:#x} ({note})");
    if !(0x1000..CONVENTIONAL_END).contains(&ebda) {
        return Err(format!("EBDA base {ebda:#x} implausible ({note})"));
    }
    let len = (CONVENTIONAL_END - ebda) as usize;
    let m = Mapping::new("/dev/mem", ebda, len, false)?;
    let mut image = vec![0u8; CONVENTIONAL_END as usize];
    image[ebda as usize..].copy_from_slice(&m.read_bytes(0, len));
    let seg = u16::try_from(ebda >> 4).map_err(|_| "EBDA segment out of range")?;
    image[BDA_EBDA_SEGMENT..BDA_EBDA_SEGMENT + 2].copy_from_slice(&seg.to_le_bytes());
    let parsed =
        rio::parse(&image).map_err(|e| format!("no Rio table ({e}; EBDA at {ebda:#x}; {note})"))?;
    let table_addr = ebda + u64::from(parsed.block_offset) + rio::BLOCK_HEADER_LEN as u64;
    Ok(RioTable {
        ebda,
        ebda_note: note,
        table_addr,
        parsed,
    })
}

/// One Calgary chip: its register window.
pub struct Chip {
    pub index: usize,
    pub bbar: u32,
    pub win: Window,
}

impl Chip {
    pub fn open(index: usize, bbar: u32) -> Result<Chip, String> {
        Ok(Chip {
            index,
            bbar,
            win: Window::open(u64::from(bbar))?,
        })
    }
    pub fn stuff(&self, phb: usize) -> u32 {
        self.win.stuff(phb)
    }
    pub fn csr(&self, phb: usize) -> u32 {
        self.win.csr(phb)
    }
    pub fn plssr(&self, phb: usize) -> u32 {
        self.win.plssr(phb)
    }
    pub fn clear_csr(&self, phb: usize) {
        self.win.clear_csr(phb)
    }
    pub fn config(&self, phb: usize) -> u32 {
        self.win.config(phb)
    }
    pub fn set_config(&self, phb: usize, v: u32) {
        self.win.set_config(phb, v);
    }
    pub fn tar(&self, phb: usize) -> u64 {
        self.win.tar(phb)
    }
    /// Program TAR like Linux: keep unrelated bits, set address and size.
    pub fn set_tar(&self, phb: usize, table: u64, size_code: u64) {
        self.win.set_tar(phb, table, size_code)
    }
    /// Flush the TCE cache: rewrite TAR with its own value.
    pub fn flush(&self, phb: usize) {
        self.win.flush(phb)
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

impl Phb {
    /// The buses behind this PHB, from its STUFF value.
    pub fn buses(&self) -> std::ops::RangeInclusive<u8> {
        regs::stuff_buses(self.stuff)
    }
    /// Whether `bus` is behind this PHB (its own bus always is).
    pub fn has_bus(&self, bus: u8) -> bool {
        bus == self.bus || self.buses().contains(&bus)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn phb_membership_from_stuff() {
        let p = Phb {
            chip: 0,
            phb: 2,
            bus: 0x28,
            stuff: 0x0028_2a00,
        };
        assert!(p.has_bus(0x29) && p.has_bus(0x2a) && !p.has_bus(0x2b) && !p.has_bus(0x27));
        // End below start: only the PHB's own bus.
        let q = Phb {
            stuff: 0x0030_2000,
            bus: 0x30,
            ..p
        };
        assert!(q.has_bus(0x30) && !q.has_bus(0x20) && !q.has_bus(0x31));
    }
}
