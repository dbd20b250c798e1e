//! Where the platform puts the chips (§1, §2 and `linux-driver-history.md`):
//! the PCI bus of every PHB and the BBAR of every chip, for the two layouts
//! the `calgary` machine offers, and the firmware constraint that keeps PCI
//! BARs off the register windows.
//!
//! * [`Layout::Rio`]: PHB buses `0x20 + 4·(4c + p)`, BBARs in the 1 MiB
//!   slots above the IOAPIC/HPET/LAPIC ([`RIO_BBARS`]).  Kernels from 2.6.20
//!   find the chips through the Rio Grande table and the STUFF registers.
//! * [`Layout::Legacy`]: what Linux 2.6.18 and 2.6.19 expect.  They read no
//!   Rio table; they scan buses 0..127 at devfn 0 for the PHB function,
//!   number the PHBs they find in bus order modulo 4, and compute the
//!   register window from the bus number ([`linux_2_6_18_bbar`],
//!   [`linux_2_6_19_bbar`]).  The legacy bus lists ([`LEGACY_BUSES`]) are
//!   chosen so that both formulas land on the same 1 MiB window for every
//!   PHB of a chip, and the Rio table still describes the same windows, so
//!   one legacy layout serves every kernel from 2.6.18 on.
//!
//! With `bus0_phb`, bus 0 (the PIIX functions and whatever else sits there)
//! is chip 0 PHB 0, as on IBM x366 where the south bridge's bus 0 is behind
//! Calgary PHB 0; the PHB's own function is 00:00.0, because every kernel
//! version decides which buses get a TCE table by reading devfn 0 only.

use core::fmt;

use crate::{CHIP_WINDOW_SIZE, MAX_CHIPS, PHBS_PER_CHIP};

/// Bus layout and register windows of the platform.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Layout {
    /// Buses `0x20 + 4·(4c + p)`, BBARs [`RIO_BBARS`]; found through the Rio
    /// table (Linux 2.6.20 and later).
    Rio,
    /// Buses [`LEGACY_BUSES`], BBARs where Linux 2.6.18/2.6.19 compute them
    /// from the bus number; the Rio table describes them too.
    Legacy,
}

impl Layout {
    /// Property value (`rio` / `legacy`).
    pub fn name(self) -> &'static str {
        match self {
            Layout::Rio => "rio",
            Layout::Legacy => "legacy",
        }
    }

    /// Parses a property value.
    pub fn from_name(s: &str) -> Option<Self> {
        match s {
            "rio" => Some(Layout::Rio),
            "legacy" => Some(Layout::Legacy),
            _ => None,
        }
    }
}

impl fmt::Display for Layout {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// BBAR of each chip in the Rio layout: 1 MiB slots clear of RAM for every
/// `-m`, of the IOAPIC (0xfec00000), HPET (0xfed00000), LAPIC (0xfee00000)
/// and of the BIOS, and above the firmware's 32-bit BAR range.
pub const RIO_BBARS: [u32; MAX_CHIPS] = [0xfef0_0000, 0xff00_0000, 0xff10_0000, 0xff20_0000];
/// Bus of chip 0 PHB 0 in the Rio layout.
pub const RIO_BUS_BASE: u8 = 0x20;
/// Bus step between consecutive PHBs in the Rio layout.
pub const RIO_BUS_STRIDE: u8 = 4;

/// PCI bus of PHB `phb` of chip `chip` in the Rio layout (without
/// `bus0-phb`): `0x20 + 4·(4·chip + phb)`, so that every PHB has room for
/// bridges behind it. `None` when chip or PHB is out of range.
pub fn rio_phb_bus(chip: usize, phb: usize) -> Option<u8> {
    if chip >= MAX_CHIPS || phb >= PHBS_PER_CHIP {
        return None;
    }
    let n = u8::try_from(PHBS_PER_CHIP * chip + phb).ok()?;
    RIO_BUS_BASE.checked_add(RIO_BUS_STRIDE.checked_mul(n)?)
}

/// PHB buses of each chip in the legacy layout (chip 0 without `bus0_phb`).
/// Both kernels' formulas agree on one window for each row: 1–4 and 5–8
/// give 0xfda00000 and 0xfdb00000 (chassis 1, RIO nodes 2 and 3), 15–18 and
/// 20–23 give 0xfd200000 and 0xfd300000 (chassis 2).
pub const LEGACY_BUSES: [[u8; PHBS_PER_CHIP]; MAX_CHIPS] = [
    [1, 2, 3, 4],
    [5, 6, 7, 8],
    [15, 16, 17, 18],
    [20, 21, 22, 23],
];
/// Chip 0's PHB buses in the legacy layout with `bus0_phb`: bus 0 is PHB 0,
/// as on x366, where the first Calgary's PHB 0 is bus 0; all four buses
/// give 0xfda00000 under both formulas.
pub const LEGACY_BUSES_BUS0: [u8; PHBS_PER_CHIP] = [0, 1, 2, 3];

/// End (exclusive) of the range in which the firmware places 32-bit PCI
/// BARs: SeaBIOS packs them top-down below the IOAPIC at 0xfec00000.
pub const FIRMWARE_PCI_MEM_END: u64 = 0xfec0_0000;
/// Smallest memory BAR the firmware allocates (SeaBIOS rounds up to a page).
pub const FIRMWARE_MEM_BAR_MIN: u64 = 0x1000;

/// Highest bus Linux up to 2.6.34 accepts behind a Calgary (`MAX_PHB_BUS_NUM`).
pub const LINUX_MAX_PHB_BUS: u8 = 127;

fn legacy_bbar(bus: u8, buses_per_chassis: u32) -> u32 {
    // FE0MB - 8 MiB * one-based chassis + 1 MiB * RIO node, where Linux takes
    // the chassis from bus / N and the node (2 or 3) from bus % N > 4.
    let bus = u32::from(bus);
    let chassis = 1 + bus / buses_per_chassis;
    let node = if bus % buses_per_chassis > 4 { 3 } else { 2 };
    0xfe00_0000u32
        .wrapping_sub(0x80_0000u32.wrapping_mul(chassis))
        .wrapping_add(0x10_0000 * node)
}

/// Register window Linux 2.6.18 maps for a PHB on `bus`
/// (`locate_register_space`: chassis from `bus / 15`, node from `bus % 15`).
pub fn linux_2_6_18_bbar(bus: u8) -> u32 {
    legacy_bbar(bus, 15)
}

/// Register window Linux 2.6.19 maps for a PHB on `bus` (the same with 14).
pub fn linux_2_6_19_bbar(bus: u8) -> u32 {
    legacy_bbar(bus, 14)
}

/// PHB index Linux 2.6.18/2.6.19 give each bus that has the PHB function at
/// devfn 0: the ordinal of the PHBs found scanning buses upwards, modulo 4.
/// Returns `(bus, phb)` pairs in scan order; buses above 127 are not scanned.
pub fn linux_legacy_phb_ids(phb_buses: &[u8]) -> Vec<(u8, usize)> {
    let mut buses: Vec<u8> = phb_buses
        .iter()
        .copied()
        .filter(|&b| b <= LINUX_MAX_PHB_BUS)
        .collect();
    buses.sort_unstable();
    buses.dedup();
    buses
        .into_iter()
        .enumerate()
        .map(|(i, b)| (b, i % PHBS_PER_CHIP))
        .collect()
}

/// A rejected platform configuration.  `Display` is one line naming the
/// machine property.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum LayoutError {
    /// More chips than [`MAX_CHIPS`].
    TooManyChips(usize),
    /// `bus0-phb=on` without any chip to put bus 0 behind.
    Bus0PhbWithoutChip,
    /// The firmware would place PCI BARs over a register window.
    BarsReachWindow {
        /// Lowest address the firmware may give a BAR.
        floor: u64,
        /// BBAR of the window it would cover.
        bbar: u32,
        /// Memory the BARs need, bytes (with alignment).
        need: u64,
    },
    /// A PCI-to-PCI bridge, whose secondary bus the firmware would number
    /// into the PHB buses of the legacy layout.
    BridgeInLegacyLayout {
        /// Bus of the bridge.
        bus: u8,
        /// Its devfn.
        devfn: u8,
    },
}

impl fmt::Display for LayoutError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match *self {
            LayoutError::TooManyChips(n) => {
                write!(f, "invalid chips {n} (accepted: 0..{MAX_CHIPS})")
            }
            LayoutError::Bus0PhbWithoutChip => {
                f.write_str("bus0-phb=on needs chips >= 1 (bus 0 goes behind chip 0 PHB 0)")
            }
            LayoutError::BarsReachWindow { floor, bbar, need } => write!(
                f,
                "layout=legacy: the firmware packs 32-bit PCI BARs down from {FIRMWARE_PCI_MEM_END:#x}; \
                 these devices need {} KiB, reaching {floor:#x}, over the Calgary window at {bbar:#x} \
                 (drop large BARs, e.g. -vga none, or use layout=rio)",
                need / 1024
            ),
            LayoutError::BridgeInLegacyLayout { bus, devfn } => write!(
                f,
                "layout=legacy: PCI bridge at {bus:02x}:{:02x}.{}: the firmware would number its \
                 secondary bus into the Calgary PHB buses (accepted: no bridges, or layout=rio)",
                devfn >> 3,
                devfn & 7
            ),
        }
    }
}

impl std::error::Error for LayoutError {}

/// The bus of every PHB and the BBAR of every chip.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Platform {
    layout: Layout,
    bus0_phb: bool,
    chips: usize,
}

impl Platform {
    /// Checks the combination of machine properties.
    pub fn new(layout: Layout, bus0_phb: bool, chips: usize) -> Result<Self, LayoutError> {
        if chips > MAX_CHIPS {
            return Err(LayoutError::TooManyChips(chips));
        }
        if bus0_phb && chips == 0 {
            return Err(LayoutError::Bus0PhbWithoutChip);
        }
        Ok(Platform {
            layout,
            bus0_phb,
            chips,
        })
    }

    /// The layout.
    pub fn layout(&self) -> Layout {
        self.layout
    }

    /// Whether bus 0 is chip 0 PHB 0.
    pub fn bus0_phb(&self) -> bool {
        self.bus0_phb
    }

    /// Number of chips.
    pub fn chips(&self) -> usize {
        self.chips
    }

    /// PCI bus of PHB `phb` of chip `chip`, `None` out of range.
    pub fn phb_bus(&self, chip: usize, phb: usize) -> Option<u8> {
        if chip >= self.chips || phb >= PHBS_PER_CHIP {
            return None;
        }
        let row = match self.layout {
            Layout::Legacy if chip == 0 && self.bus0_phb => &LEGACY_BUSES_BUS0,
            Layout::Legacy => LEGACY_BUSES.get(chip)?,
            Layout::Rio => {
                if chip == 0 && phb == 0 && self.bus0_phb {
                    return Some(0);
                }
                return rio_phb_bus(chip, phb);
            }
        };
        row.get(phb).copied()
    }

    /// BBAR of chip `chip`, `None` out of range.
    pub fn bbar(&self, chip: usize) -> Option<u32> {
        if chip >= self.chips {
            return None;
        }
        match self.layout {
            Layout::Rio => RIO_BBARS.get(chip).copied(),
            Layout::Legacy => self.phb_bus(chip, 0).map(linux_2_6_18_bbar),
        }
    }

    /// Whether `bus` is the root bus of a PHB, and which one.
    pub fn phb_of_bus(&self, bus: u8) -> Option<(usize, usize)> {
        (0..self.chips)
            .flat_map(|c| (0..PHBS_PER_CHIP).map(move |p| (c, p)))
            .find(|&(c, p)| self.phb_bus(c, p) == Some(bus))
    }

    /// Register windows `[bbar, bbar + 1 MiB)` of all chips.
    pub fn windows(&self) -> impl Iterator<Item = (u64, u64)> + '_ {
        (0..self.chips)
            .filter_map(|c| self.bbar(c))
            .map(|b| (u64::from(b), u64::from(b) + CHIP_WINDOW_SIZE))
    }

    /// Whether PCI-to-PCI bridges can coexist with the PHB buses: SeaBIOS
    /// numbers bridges' secondary buses from 1 upwards, which the Rio
    /// layout leaves free (PHB buses start at 0x20) and the legacy layout
    /// does not.
    pub fn allows_bridges(&self) -> bool {
        self.layout == Layout::Rio
    }

    /// Checks that the firmware's BAR placement for `bars` stays off every
    /// register window (see [`firmware_bar_floor`]).
    pub fn check_firmware_bars(&self, bars: &[PciBar]) -> Result<(), LayoutError> {
        let floor = firmware_bar_floor(bars);
        for (start, end) in self.windows() {
            if start < FIRMWARE_PCI_MEM_END && end > floor {
                return Err(LayoutError::BarsReachWindow {
                    floor,
                    bbar: start as u32,
                    need: FIRMWARE_PCI_MEM_END.saturating_sub(floor),
                });
            }
        }
        Ok(())
    }
}

/// Kind of a PCI BAR, as the firmware sorts them.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum BarKind {
    /// I/O ports: not in the memory range.
    Io,
    /// Non-prefetchable memory (32- or 64-bit).
    Mem,
    /// Prefetchable memory (32- or 64-bit).
    Prefetch,
    /// Expansion ROM (placed with the non-prefetchable memory).
    Rom,
}

/// One BAR of a device below a root bus.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct PciBar {
    /// Size in bytes (a power of two for a real BAR).
    pub size: u64,
    /// Kind.
    pub kind: BarKind,
}

#[derive(Default)]
struct Region {
    sum: u64,
    align: u64,
}

impl Region {
    fn add(&mut self, size: u64) {
        self.sum = self.sum.saturating_add(size);
        self.align = self.align.max(size);
    }
    fn align(&self) -> u64 {
        self.align.max(1)
    }
}

fn align_down(x: u64, a: u64) -> u64 {
    // `a` is a power of two for real BARs; anything else only makes the
    // floor lower (more conservative).
    if a.is_power_of_two() {
        x & !(a - 1)
    } else {
        x.saturating_sub(a)
    }
}

/// Lowest address the firmware may give a memory BAR of `bars` (all devices
/// below every root bus).
///
/// This replays SeaBIOS's root-bus allocation: every root bus's BARs go into
/// one pair of regions, non-prefetchable (with expansion ROMs) and
/// prefetchable; each BAR is at least [`FIRMWARE_MEM_BAR_MIN`] and aligned
/// to its size; the region with the smaller alignment is placed right below
/// [`FIRMWARE_PCI_MEM_END`], the other right below it, each base aligned
/// down to its largest BAR.  64-bit BARs are counted here too (SeaBIOS moves
/// them above 4 GiB only when the guest has RAM there, which Calgary guests
/// do not), so the floor is never higher than what SeaBIOS does.
pub fn firmware_bar_floor(bars: &[PciBar]) -> u64 {
    let mut mem = Region::default();
    let mut pref = Region::default();
    for b in bars {
        if b.size == 0 {
            continue;
        }
        let size = b.size.max(FIRMWARE_MEM_BAR_MIN);
        match b.kind {
            BarKind::Io => {}
            BarKind::Mem | BarKind::Rom => mem.add(size),
            BarKind::Prefetch => pref.add(size),
        }
    }
    let (top, below) = if mem.align() < pref.align() {
        (&mem, &pref)
    } else {
        (&pref, &mem)
    };
    let top_base = align_down(FIRMWARE_PCI_MEM_END.saturating_sub(top.sum), top.align());
    align_down(top_base.saturating_sub(below.sum), below.align())
}
