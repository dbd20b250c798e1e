//! The Rio Grande table (§2): what the firmware puts in the EBDA so that
//! Linux finds the chips, and a parser that reads it the way Linux does.
//!
//! Layout built by [`build`] (placed at EBDA + [`EBDA_OFFSET`]), all
//! little-endian and packed:
//!
//! ```text
//! +0  u16 next_offset = 0        chain block
//! +2  u16 id = 0x4752
//! +4  u8 version = 3, u8 num_scal_dev = 1, u8 num_rio_dev = n
//! +7  scalability entry (12 bytes): node 0, CBAR 0, ports 0xFF, chassis 1
//! +19 n × RIO entry (15 bytes): node, BBAR, type 4, owner 0, ports 0xFF,
//!     first_slot 1 + 4·i, status 0, WP_index i, chassis
//! ```

use core::fmt;

use crate::{Variant, MAX_CHIPS};

/// Offset of the first chain block inside the EBDA.
pub const EBDA_OFFSET: u16 = 0x180;
/// Physical address of the BDA word holding the EBDA segment.
pub const BDA_EBDA_SEGMENT: usize = 0x40E;
/// Block id of the Rio table.
pub const RIO_BLOCK_ID: u16 = 0x4752;
/// Version the builder emits.
pub const RIO_VERSION: u8 = 3;
/// RIO entry type: Calgary.
pub const COMPAT_CALGARY: u8 = 4;
/// RIO entry type: Calgary on a second planar.
pub const ALT_CALGARY: u8 = 5;
/// Unused port fields.
pub const PORT_NONE: u8 = 0xFF;
/// Size of the chain block header.
pub const BLOCK_HEADER_LEN: usize = 4;
/// Size of the table header.
pub const HEADER_LEN: usize = 3;

/// Scalability / RIO entry sizes for a table version.
pub fn entry_sizes(version: u8) -> Option<(usize, usize)> {
    match version {
        2 => Some((11, 13)),
        3 => Some((12, 15)),
        _ => None,
    }
}

/// A chip as the table describes it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct RioChip {
    /// Register window address.
    pub bbar: u32,
    /// Calgary or CalIOC2 (both are type COMPAT_CALGARY in the table; the
    /// variant is told by the PHB's PCI device ID).
    pub variant: Variant,
    /// Chassis number.
    pub chassis: u8,
    /// Node ID.
    pub node: u8,
}

/// Why a table could not be built or parsed.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum RioError {
    /// No chip given.
    NoChips,
    /// More than [`MAX_CHIPS`].
    TooManyChips(usize),
    /// Two chips with one BBAR.
    DuplicateBbar(u32),
    /// The chain walk found no block with id 0x4752.
    NotFound,
    /// Version other than 2 or 3.
    BadVersion(u8),
    /// The table runs past the end of the memory given.
    Truncated,
    /// The destination memory cannot hold the table.
    NoRoom,
}

impl fmt::Display for RioError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            RioError::NoChips => f.write_str("rio: no Calgary chip to describe"),
            RioError::TooManyChips(n) => {
                write!(f, "rio: {n} chips, at most {MAX_CHIPS} are supported")
            }
            RioError::DuplicateBbar(b) => write!(f, "rio: two chips share BBAR {b:#x}"),
            RioError::NotFound => f.write_str("rio: Unable to locate Rio Grande table in EBDA"),
            RioError::BadVersion(v) => write!(f, "rio: invalid Rio Grande table version {v}"),
            RioError::Truncated => f.write_str("rio: table runs past the end of memory"),
            RioError::NoRoom => f.write_str("rio: destination too small for the table"),
        }
    }
}

impl std::error::Error for RioError {}

/// Builds the bytes that go at EBDA + [`EBDA_OFFSET`].
pub fn build(chips: &[RioChip]) -> Result<Vec<u8>, RioError> {
    if chips.is_empty() {
        return Err(RioError::NoChips);
    }
    if chips.len() > MAX_CHIPS {
        return Err(RioError::TooManyChips(chips.len()));
    }
    for (i, a) in chips.iter().enumerate() {
        if chips.iter().skip(i + 1).any(|b| b.bbar == a.bbar) {
            return Err(RioError::DuplicateBbar(a.bbar));
        }
    }
    let (scal_len, rio_len) = (12, 15);
    let mut out =
        Vec::with_capacity(BLOCK_HEADER_LEN + HEADER_LEN + scal_len + rio_len * chips.len());
    out.extend_from_slice(&0u16.to_le_bytes());
    out.extend_from_slice(&RIO_BLOCK_ID.to_le_bytes());
    out.push(RIO_VERSION);
    out.push(1);
    out.push(chips.len() as u8);
    // Scalability entry: node 0, no CBAR, no ports, boot chassis 1.
    out.push(0);
    out.extend_from_slice(&0u32.to_le_bytes());
    out.extend_from_slice(&[PORT_NONE; 6]);
    out.push(1);
    for (i, c) in chips.iter().enumerate() {
        out.push(c.node);
        out.extend_from_slice(&c.bbar.to_le_bytes());
        out.push(COMPAT_CALGARY);
        out.push(0); // owner: scalability node 0
        out.extend_from_slice(&[PORT_NONE; 4]);
        out.push(1 + 4 * i as u8); // first_slot
        out.push(0); // status
        out.push(i as u8); // WP_index
        out.push(c.chassis);
    }
    Ok(out)
}

/// Writes the EBDA segment into the BDA at 0x40E and `table` at
/// EBDA + 0x180, in a byte image of guest low memory (tests, option ROM
/// generators).
pub fn place(mem: &mut [u8], ebda_segment: u16, table: &[u8]) -> Result<(), RioError> {
    let seg = mem
        .get_mut(BDA_EBDA_SEGMENT..BDA_EBDA_SEGMENT + 2)
        .ok_or(RioError::NoRoom)?;
    seg.copy_from_slice(&ebda_segment.to_le_bytes());
    let start = (usize::from(ebda_segment) << 4)
        .checked_add(usize::from(EBDA_OFFSET))
        .ok_or(RioError::NoRoom)?;
    let end = start.checked_add(table.len()).ok_or(RioError::NoRoom)?;
    mem.get_mut(start..end)
        .ok_or(RioError::NoRoom)?
        .copy_from_slice(table);
    Ok(())
}

/// A scalability entry.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[allow(missing_docs)]
pub struct ScalDetail {
    pub node_id: u8,
    pub cbar: u32,
    pub port0node: u8,
    pub port0port: u8,
    pub port1node: u8,
    pub port1port: u8,
    pub port2node: u8,
    pub port2port: u8,
    /// Version 3 only.
    pub chassis_num: Option<u8>,
}

/// A RIO entry.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[allow(missing_docs)]
pub struct RioDetail {
    pub node_id: u8,
    pub bbar: u32,
    pub rio_type: u8,
    pub owner_id: u8,
    pub port0node: u8,
    pub port0port: u8,
    pub port1node: u8,
    pub port1port: u8,
    pub first_slot: u8,
    pub status: u8,
    /// Version 3 only.
    pub wp_index: Option<u8>,
    /// Version 3 only.
    pub chassis_num: Option<u8>,
}

impl RioDetail {
    /// Whether Linux treats this entry as a Calgary chip.
    pub fn is_calgary(&self) -> bool {
        self.rio_type == COMPAT_CALGARY || self.rio_type == ALT_CALGARY
    }
}

/// A table as Linux sees it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ParsedRio {
    /// EBDA base (segment << 4).
    pub ebda: usize,
    /// Offset of the chain block inside the EBDA.
    pub block_offset: u16,
    /// Table version (2 or 3).
    pub version: u8,
    /// Scalability entries.
    pub scal: Vec<ScalDetail>,
    /// RIO entries.
    pub rio: Vec<RioDetail>,
}

impl ParsedRio {
    /// BBARs of the Calgary entries, in table order.
    pub fn calgary_bbars(&self) -> Vec<u32> {
        self.rio
            .iter()
            .filter(|r| r.is_calgary())
            .map(|r| r.bbar)
            .collect()
    }

    /// Whether Linux built with `max_numnodes` accepts the table
    /// (`num_scal_dev <= MAX_NUMNODES`).
    pub fn linux_accepts(&self, max_numnodes: usize) -> bool {
        self.scal.len() <= max_numnodes
    }
}

struct Cur<'a> {
    mem: &'a [u8],
    pos: usize,
}

impl Cur<'_> {
    fn u8(&mut self) -> Result<u8, RioError> {
        let v = *self.mem.get(self.pos).ok_or(RioError::Truncated)?;
        self.pos = self.pos.checked_add(1).ok_or(RioError::Truncated)?;
        Ok(v)
    }
    fn u32(&mut self) -> Result<u32, RioError> {
        let b = [self.u8()?, self.u8()?, self.u8()?, self.u8()?];
        Ok(u32::from_le_bytes(b))
    }
}

fn read_u16(mem: &[u8], at: usize) -> Result<u16, RioError> {
    let end = at.checked_add(2).ok_or(RioError::Truncated)?;
    let s = mem.get(at..end).ok_or(RioError::Truncated)?;
    Ok(u16::from_le_bytes([
        s.first().copied().unwrap_or(0),
        s.get(1).copied().unwrap_or(0),
    ]))
}

/// Reads the table from an image of guest low memory (physical address 0
/// at index 0, including the BDA and the EBDA), as Linux does: EBDA
/// segment at 0x40E, chain walk from offset 0x180 while offsets increase,
/// header, then the entries of the declared version.
pub fn parse(mem: &[u8]) -> Result<ParsedRio, RioError> {
    let ebda = usize::from(read_u16(mem, BDA_EBDA_SEGMENT)?) << 4;
    let mut offset = EBDA_OFFSET;
    let mut prev = 0u16;
    let mut found = None;
    while offset > prev {
        let block = ebda
            .checked_add(usize::from(offset))
            .ok_or(RioError::Truncated)?;
        if read_u16(mem, block.checked_add(2).ok_or(RioError::Truncated)?)? == RIO_BLOCK_ID {
            found = Some((offset, block + BLOCK_HEADER_LEN));
            break;
        }
        prev = offset;
        offset = read_u16(mem, block)?;
    }
    let (block_offset, hdr) = found.ok_or(RioError::NotFound)?;
    let mut c = Cur { mem, pos: hdr };
    let version = c.u8()?;
    let num_scal = c.u8()?;
    let num_rio = c.u8()?;
    if entry_sizes(version).is_none() {
        return Err(RioError::BadVersion(version));
    }
    let v3 = version == 3;
    let mut scal = Vec::with_capacity(usize::from(num_scal));
    for _ in 0..num_scal {
        scal.push(ScalDetail {
            node_id: c.u8()?,
            cbar: c.u32()?,
            port0node: c.u8()?,
            port0port: c.u8()?,
            port1node: c.u8()?,
            port1port: c.u8()?,
            port2node: c.u8()?,
            port2port: c.u8()?,
            chassis_num: if v3 { Some(c.u8()?) } else { None },
        });
    }
    let mut rio = Vec::with_capacity(usize::from(num_rio));
    for _ in 0..num_rio {
        rio.push(RioDetail {
            node_id: c.u8()?,
            bbar: c.u32()?,
            rio_type: c.u8()?,
            owner_id: c.u8()?,
            port0node: c.u8()?,
            port0port: c.u8()?,
            port1node: c.u8()?,
            port1port: c.u8()?,
            first_slot: c.u8()?,
            status: c.u8()?,
            wp_index: if v3 { Some(c.u8()?) } else { None },
            chassis_num: if v3 { Some(c.u8()?) } else { None },
        });
    }
    Ok(ParsedRio {
        ebda,
        block_offset,
        version,
        scal,
        rio,
    })
}
