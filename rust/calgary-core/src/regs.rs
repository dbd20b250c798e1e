//! The register map (`calgary-hardware.md` §3) as data.
//!
//! Offsets are inside the chip's 1 MiB window.  Per-PHB registers live in
//! four places: the TARs at `0x580 + 8·p`, the split-queue status at
//! `0x4870 + 0x1000·p`, the debug STUFF at `0x4020 + 0x1000·p` and the PHB
//! block at `0x8000 + 0x1000·p + off` (Linux ORs `off` into the PHB base).
//!
//! All values are numeric, as the big-endian register holds them; the QEMU
//! side (DEVICE_BIG_ENDIAN) does the byte swap.  A 64-bit register may be
//! accessed as one 8-byte access or as two 4-byte halves; the half at the
//! lower offset holds bits 63..32.

use crate::Variant;

// ---------------------------------------------------------------------------
// Offsets
// ---------------------------------------------------------------------------

/// CALGARY_CONFIG (chip-wide, 64-bit): split-completion timeouts.
pub const CALGARY_CONFIG: u64 = 0x0108;
/// TAR of PHB 0; PHB p at `TAR_BASE + 8·p`.
pub const TAR_BASE: u64 = 0x0580;
/// Split-queue status of PHB 0; PHB p at `+ 0x1000·p`.
pub const SPLIT_QUEUE_BASE: u64 = 0x4870;
/// PHB debug register block of PHB 0; PHB p at `+ 0x1000·p`.
pub const PHB_DEBUG_BASE: u64 = 0x4000;
/// STUFF offset inside the debug block.
pub const PHB_DEBUG_STUFF_OFFSET: u64 = 0x0020;
/// PHB register block of PHB 0; PHB p at `+ 0x1000·p`.
pub const PHB_BASE: u64 = 0x8000;
/// Distance between per-PHB blocks.
pub const PHB_STRIDE: u64 = 0x1000;

/// Offsets inside the PHB block (OR them into [`phb_base`]).
pub const PHB_CSR_OFFSET: u64 = 0x0110;
/// PLSSR.
pub const PHB_PLSSR_OFFSET: u64 = 0x0120;
/// PHB_CONFIG_RW.
pub const PHB_CONFIG_RW_OFFSET: u64 = 0x0160;
/// IOBASE_BAR low.
pub const PHB_IOBASE_BAR_LOW: u64 = 0x0170;
/// IOBASE_BAR high.
pub const PHB_IOBASE_BAR_HIGH: u64 = 0x0180;
/// MEM_1 low.
pub const PHB_MEM_1_LOW: u64 = 0x0190;
/// MEM_1 high.
pub const PHB_MEM_1_HIGH: u64 = 0x01A0;
/// IO_ADDR_SIZE.
pub const PHB_IO_ADDR_SIZE: u64 = 0x01B0;
/// MEM_1_SIZE (used as the window limit).
pub const PHB_MEM_1_SIZE: u64 = 0x01C0;
/// MEM_ST.
pub const PHB_MEM_ST_OFFSET: u64 = 0x01D0;
/// AER (arbitration enable).
pub const PHB_AER_OFFSET: u64 = 0x0200;
/// CONFIG_0 high.
pub const PHB_CONFIG_0_HIGH: u64 = 0x0220;
/// CONFIG_0 low.
pub const PHB_CONFIG_0_LOW: u64 = 0x0230;
/// CONFIG_0 end.
pub const PHB_CONFIG_0_END: u64 = 0x0240;
/// CSMR.
pub const PHB_CSMR: u64 = 0x0290;
/// MEM_2 low.
pub const PHB_MEM_2_LOW: u64 = 0x02B0;
/// MEM_2 high.
pub const PHB_MEM_2_HIGH: u64 = 0x02C0;
/// MEM_2 size high.
pub const PHB_MEM_2_SIZE_HIGH: u64 = 0x02D0;
/// MEM_2 size low.
pub const PHB_MEM_2_SIZE_LOW: u64 = 0x02E0;
/// MCK.
pub const PHB_MCK: u64 = 0x0800;
/// First of the 7 CalIOC2 error registers (0x810..=0x870 step 0x10).
pub const PHB_ERR_BASE: u64 = 0x0810;
/// DOSHOLE.
pub const PHB_DOSHOLE_OFFSET: u64 = 0x08E0;
/// ROOT_COMPLEX_STATUS (CalIOC2).
pub const PHB_ROOT_COMPLEX_STATUS: u64 = 0x0CB0;
/// PAGE_MIG_DEBUG, PMDR (CalIOC2).
pub const PHB_PAGE_MIG_DEBUG: u64 = 0x0DA0;
/// PAGE_MIG_CTRL, PMCR (CalIOC2).
pub const PHB_PAGE_MIG_CTRL: u64 = 0x0DA8;
/// SAVIOR_L2 (CalIOC2).
pub const PHB_SAVIOR_L2: u64 = 0x0DB0;

/// TAR of PHB `p`.
pub const fn tar(p: usize) -> u64 {
    TAR_BASE + 8 * p as u64
}
/// Split-queue status of PHB `p`.
pub const fn split_queue(p: usize) -> u64 {
    SPLIT_QUEUE_BASE + PHB_STRIDE * p as u64
}
/// PHB debug STUFF of PHB `p`.
pub const fn stuff(p: usize) -> u64 {
    PHB_DEBUG_BASE + PHB_STRIDE * p as u64 + PHB_DEBUG_STUFF_OFFSET
}
/// The buses a PHB debug STUFF value names (§2): bits 23..16 the first
/// bus, bits 15..8 the last. Read as Linux 2.6.23+ reads it: an end byte of
/// 0 is the older "single bus" encoding; otherwise `first..=last`, which
/// for the single-bus encoding every era accepts (last = first) is the
/// first bus alone. An end below the start names no bus (2.6.20-2.6.22
/// walk `start..=end` and would map nothing). Inverse of
/// [`PhbConfig::stuff_value`](crate::PhbConfig::stuff_value).
pub fn stuff_buses(stuff: u32) -> core::ops::RangeInclusive<u8> {
    let [_, first, last, _] = stuff.to_be_bytes();
    if last == 0 {
        first..=first
    } else {
        first..=last
    }
}
/// Base of PHB `p`'s register block.
pub const fn phb_base(p: usize) -> u64 {
    PHB_BASE + PHB_STRIDE * p as u64
}
/// Register `off` (a `PHB_*` offset) of PHB `p`.
pub const fn phb_reg(p: usize, off: u64) -> u64 {
    phb_base(p) | off
}

// ---------------------------------------------------------------------------
// Bits
// ---------------------------------------------------------------------------

bitflags::bitflags! {
    /// PHB_CONFIG_RW (§3).  Bits not named here are stored as written; the
    /// model acts on TCE_ENABLE, SLOT_DISABLE and MEM2_ENABLE and only
    /// stores DAC_DISABLE and MCSR_ENABLE.
    #[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
    pub struct PhbConfigBits: u32 {
        /// Translation on.
        const TCE_ENABLE = 0x2000_0000;
        /// Slot disable: a field of three bits; any of them set blocks
        /// every DMA of the PHB (test with `intersects`).
        const SLOT_DISABLE = 0x1C00_0000;
        /// DAC disable (stored only).
        const DAC_DISABLE = 0x0100_0000;
        /// MEM_2 window enabled.
        const MEM2_ENABLE = 0x0040_0000;
        /// MCSR enable (stored only).
        const MCSR_ENABLE = 0x0010_0000;
        // Every other bit is plain storage.
        const _ = !0;
    }
}

impl PhbConfigBits {
    /// Bits that are stored but have no effect in the model.
    pub const STORED_ONLY: PhbConfigBits =
        PhbConfigBits::DAC_DISABLE.union(PhbConfigBits::MCSR_ENABLE);
}

/// PHB_CONFIG_RW: translation on.
pub const PHB_TCE_ENABLE: u32 = PhbConfigBits::TCE_ENABLE.bits();
/// PHB_CONFIG_RW: slot disable (any of these bits blocks every DMA).
pub const PHB_SLOT_DISABLE: u32 = PhbConfigBits::SLOT_DISABLE.bits();
/// PHB_CONFIG_RW: DAC disable (stored only).
pub const PHB_DAC_DISABLE: u32 = PhbConfigBits::DAC_DISABLE.bits();
/// PHB_CONFIG_RW: MEM_2 window enabled.
pub const PHB_MEM2_ENABLE: u32 = PhbConfigBits::MEM2_ENABLE.bits();
/// PHB_CONFIG_RW: MCSR enable (stored only).
pub const PHB_MCSR_ENABLE: u32 = PhbConfigBits::MCSR_ENABLE.bits();

/// CSR bits Linux tests for "an error is latched".
pub const CSR_AGENT_MASK: u32 = 0xFFE0_FFFF;

bitflags::bitflags! {
    /// CalIOC2 PAGE_MIG_CTRL (PMCR) and PAGE_MIG_DEBUG (PMDR) bits (§5).
    #[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
    pub struct PmrBits: u32 {
        /// PMCR: SoftStop request (written by the guest).
        const SOFTSTOP = 0x8000_0000;
        /// PMDR: SoftStopFault (never set by this model).
        const SOFTSTOPFAULT = 0x4000_0000;
        /// PMCR: HardStop status (entered by a read in SoftStop).
        const HARDSTOP = 0x2000_0000;
        // Every other bit is plain storage.
        const _ = !0;
    }
}

/// PMCR: SoftStop request.
pub const PMR_SOFTSTOP: u32 = PmrBits::SOFTSTOP.bits();
/// PMCR: HardStop status.
pub const PMR_HARDSTOP: u32 = PmrBits::HARDSTOP.bits();
/// PMDR: SoftStopFault (never set by this model).
pub const PMR_SOFTSTOPFAULT: u32 = PmrBits::SOFTSTOPFAULT.bits();
/// SAVIOR_L2 bit Linux sets on CalIOC2.
pub const SAVIOR_L2_LINUX_BIT: u32 = 0x0080_0000;

/// TAR: table address, bits 47..15.
pub const TAR_TABLE_ADDR_MASK: u64 = 0x0000_FFFF_FFFF_8000;
/// TAR: size code, bits 2..0.
pub const TAR_SIZE_MASK: u64 = 0x7;
/// TAR: valid bit (Linux never sets it; the model ignores it).
pub const TAR_VALID: u64 = 0x8;
/// TAR bits Linux clears before programming.
pub const TAR_SW_BITS: u64 = 0x0000_FFFF_FFFF_800F;

bitflags::bitflags! {
    /// One TCE, the 8-byte big-endian entry of a translation table (§4).
    /// A TCE with neither READ nor WRITE is not valid.
    #[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
    pub struct TceBits: u64 {
        /// Device may read memory.
        const READ = 0x1;
        /// Device may write memory.
        const WRITE = 0x2;
        /// Real page number: bits 47..12 (a field, not a flag).
        const RPN = 0x0000_FFFF_FFFF_F000;
        // Other bits are ignored by the hardware but kept as read.
        const _ = !0;
    }
}

impl TceBits {
    /// Both permission bits.
    pub const PERMS: TceBits = TceBits::READ.union(TceBits::WRITE);

    /// Whether the TCE maps a page (READ or WRITE set).
    #[inline]
    pub const fn valid(self) -> bool {
        self.intersects(TceBits::PERMS)
    }

    /// The physical page address (RPN field, page-aligned).
    #[inline]
    pub const fn page(self) -> u64 {
        self.bits() & TceBits::RPN.bits()
    }
}

/// TCE: device may read memory.
pub const TCE_READ: u64 = TceBits::READ.bits();
/// TCE: device may write memory.
pub const TCE_WRITE: u64 = TceBits::WRITE.bits();
/// TCE: real page number, bits 47..12.
pub const TCE_RPN_MASK: u64 = TceBits::RPN.bits();

/// Split-queue status when idle.  Linux reads this register with `readq`
/// and **no** byte swap and tests `(v & 0xff) == 0xff`: on x86 that low byte
/// is the byte at the register's own offset, bits 63..56 of the big-endian
/// value.  The model puts 0xFF in both the top and the bottom byte so that
/// a byte-swapping reader sees 0xFF in its low byte too.
pub const SPLIT_QUEUE_IDLE: u64 = 0xFF00_0000_0000_00FF;

/// CALGARY_CONFIG: split-completion timeout field shift, per PHB.
pub const CCR_TIMEOUT_SHIFT: [u32; 4] = [44, 40, 36, 28];
/// CALGARY_CONFIG: the 2-second timeout Linux sets for bus 1.
pub const CCR_2SEC_TIMEOUT: u64 = 0xE;

/// Number of TCE entries for TAR size code `s` (0..7): `8192 << s`.
pub const fn tce_entries(size_code: u64) -> u64 {
    8192u64 << (size_code & TAR_SIZE_MASK)
}

// ---------------------------------------------------------------------------
// The table
// ---------------------------------------------------------------------------

/// Register width.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Width {
    /// 32 bits: 4-byte accesses only.
    W32,
    /// 64 bits: 8-byte access, or 4-byte halves (lower offset = bits 63..32).
    W64,
}

impl Width {
    /// Width in bytes.
    pub const fn bytes(self) -> u64 {
        match self {
            Width::W32 => 4,
            Width::W64 => 8,
        }
    }
}

/// Where a register sits.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Placement {
    /// Once per chip at `base`.
    Chip,
    /// Once per PHB at `base + stride·p`.
    PerPhb {
        /// distance between PHBs
        stride: u64,
    },
}

/// Reset value of a register.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Reset {
    /// A constant.
    Value(u64),
    /// PHB debug STUFF from the PhbConfig bus range.
    Stuff,
    /// Low 32 bits of `PhbConfig::mem1_start`.
    Mem1Low,
    /// High 32 bits of `PhbConfig::mem1_start`.
    Mem1High,
    /// `PhbConfig::mem1_limit` (32 bits).
    Mem1Size,
}

/// What reads and writes do.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Behaviour {
    /// Plain storage: writes stick, reads return them.
    Stored,
    /// Reads return the model's value; writes are ignored and reported as
    /// a guest error (`ReadOnly`).
    ReadOnly,
    /// Stored; any write (of either half) invalidates the PHB's TCE cache.
    TarFlush,
    /// Error capture: a write of 0 clears the latched error (CSR and
    /// PLSSR); other values are ignored (`ValueIgnored`).
    Csr,
    /// Stored; TCE_ENABLE / SLOT_DISABLE / MEM2_ENABLE take effect at once.
    PhbConfig,
    /// CalIOC2 page-migration control: SoftStop is written, HardStop is
    /// status, entered by a read in SoftStop, left by clearing SoftStop.
    Pmcr,
}

/// Identity of a register; also its index in [`REGISTERS`] and in the
/// per-PHB storage.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[allow(missing_docs)]
pub enum RegId {
    CalgaryConfig = 0,
    Tar,
    SplitQueue,
    Stuff,
    Csr,
    Plssr,
    PhbConfigRw,
    IobaseBarLow,
    IobaseBarHigh,
    Mem1Low,
    Mem1High,
    IoAddrSize,
    Mem1Size,
    MemSt,
    Aer,
    Config0High,
    Config0Low,
    Config0End,
    Csmr,
    Mem2Low,
    Mem2High,
    Mem2SizeHigh,
    Mem2SizeLow,
    Mck,
    Err0,
    Err1,
    Err2,
    Err3,
    Err4,
    Err5,
    Err6,
    Doshole,
    RootComplexStatus,
    Pmdr,
    Pmcr,
    SaviorL2,
}

/// Number of registers in the table.
pub const REG_COUNT: usize = 36;

impl RegId {
    /// Index in [`REGISTERS`].
    pub const fn index(self) -> usize {
        self as usize
    }

    /// The table row.
    pub fn info(self) -> &'static RegInfo {
        // REGISTERS is indexed by RegId (checked by a test); fall back to a
        // search so that a mismatch can never panic.
        match REGISTERS.get(self.index()) {
            Some(r) if r.id == self => r,
            _ => REGISTERS
                .iter()
                .find(|r| r.id == self)
                .unwrap_or(&REGISTERS_FALLBACK),
        }
    }
}

const REGISTERS_FALLBACK: RegInfo = RegInfo {
    id: RegId::CalgaryConfig,
    name: "CALGARY_CONFIG",
    base: CALGARY_CONFIG,
    placement: Placement::Chip,
    width: Width::W64,
    reset: Reset::Value(0),
    behaviour: Behaviour::Stored,
    calioc2_only: false,
};

/// One row of the register table.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct RegInfo {
    /// Identity.
    pub id: RegId,
    /// Name as in the hardware contract / Linux.
    pub name: &'static str,
    /// Offset of PHB 0's instance (or the chip-wide register).
    pub base: u64,
    /// Chip-wide or per PHB.
    pub placement: Placement,
    /// 32 or 64 bits.
    pub width: Width,
    /// Reset value.
    pub reset: Reset,
    /// Access behaviour.
    pub behaviour: Behaviour,
    /// Only present on CalIOC2 (an unlisted offset on Calgary).
    pub calioc2_only: bool,
}

impl RegInfo {
    /// Offset of this register for PHB `p` (p ignored for chip-wide).
    pub const fn offset(&self, p: usize) -> u64 {
        match self.placement {
            Placement::Chip => self.base,
            Placement::PerPhb { stride } => self.base + stride * p as u64,
        }
    }

    /// Whether the register exists on `variant`.
    pub fn present(&self, variant: Variant) -> bool {
        !self.calioc2_only || variant == Variant::CalIoc2
    }
}

const fn phb32(
    id: RegId,
    name: &'static str,
    off: u64,
    behaviour: Behaviour,
    reset: Reset,
    calioc2_only: bool,
) -> RegInfo {
    RegInfo {
        id,
        name,
        base: PHB_BASE + off,
        placement: Placement::PerPhb { stride: PHB_STRIDE },
        width: Width::W32,
        reset,
        behaviour,
        calioc2_only,
    }
}

const Z: Reset = Reset::Value(0);
use Behaviour::{Csr as BCsr, PhbConfig as BPhbConfig, Pmcr as BPmcr, ReadOnly as RO, Stored as S};

/// The register table, indexed by [`RegId`].
pub const REGISTERS: &[RegInfo; REG_COUNT] = &[
    RegInfo {
        id: RegId::CalgaryConfig,
        name: "CALGARY_CONFIG",
        base: CALGARY_CONFIG,
        placement: Placement::Chip,
        width: Width::W64,
        reset: Z,
        behaviour: S,
        calioc2_only: false,
    },
    RegInfo {
        id: RegId::Tar,
        name: "TAR",
        base: TAR_BASE,
        placement: Placement::PerPhb { stride: 8 },
        width: Width::W64,
        reset: Z,
        behaviour: Behaviour::TarFlush,
        calioc2_only: false,
    },
    RegInfo {
        id: RegId::SplitQueue,
        name: "SPLIT_QUEUE_STATUS",
        base: SPLIT_QUEUE_BASE,
        placement: Placement::PerPhb { stride: PHB_STRIDE },
        width: Width::W64,
        reset: Reset::Value(SPLIT_QUEUE_IDLE),
        behaviour: RO,
        calioc2_only: false,
    },
    RegInfo {
        id: RegId::Stuff,
        name: "PHB_DEBUG_STUFF",
        base: PHB_DEBUG_BASE + PHB_DEBUG_STUFF_OFFSET,
        placement: Placement::PerPhb { stride: PHB_STRIDE },
        width: Width::W32,
        reset: Reset::Stuff,
        behaviour: RO,
        calioc2_only: false,
    },
    phb32(RegId::Csr, "CSR", PHB_CSR_OFFSET, BCsr, Z, false),
    phb32(RegId::Plssr, "PLSSR", PHB_PLSSR_OFFSET, RO, Z, false),
    phb32(
        RegId::PhbConfigRw,
        "PHB_CONFIG_RW",
        PHB_CONFIG_RW_OFFSET,
        BPhbConfig,
        // MEM_2 (reset 0..0xFFFFF, the legacy first MiB) is enabled at reset:
        // Linux then reserves IO pages 0..255 on Calgary as it does on
        // CalIOC2, so it never hands out IO address 0, which QEMU's virtio
        // takes for "ring not configured" (MODEL.md).
        Reset::Value(PHB_MEM2_ENABLE as u64),
        false,
    ),
    phb32(
        RegId::IobaseBarLow,
        "IOBASE_BAR_LOW",
        PHB_IOBASE_BAR_LOW,
        S,
        Z,
        false,
    ),
    phb32(
        RegId::IobaseBarHigh,
        "IOBASE_BAR_HIGH",
        PHB_IOBASE_BAR_HIGH,
        S,
        Z,
        false,
    ),
    phb32(
        RegId::Mem1Low,
        "MEM_1_LOW",
        PHB_MEM_1_LOW,
        S,
        Reset::Mem1Low,
        false,
    ),
    phb32(
        RegId::Mem1High,
        "MEM_1_HIGH",
        PHB_MEM_1_HIGH,
        S,
        Reset::Mem1High,
        false,
    ),
    phb32(
        RegId::IoAddrSize,
        "IO_ADDR_SIZE",
        PHB_IO_ADDR_SIZE,
        S,
        Z,
        false,
    ),
    phb32(
        RegId::Mem1Size,
        "MEM_1_SIZE",
        PHB_MEM_1_SIZE,
        S,
        Reset::Mem1Size,
        false,
    ),
    phb32(RegId::MemSt, "MEM_ST", PHB_MEM_ST_OFFSET, S, Z, false),
    phb32(RegId::Aer, "AER", PHB_AER_OFFSET, S, Z, false),
    phb32(
        RegId::Config0High,
        "CONFIG_0_HIGH",
        PHB_CONFIG_0_HIGH,
        S,
        Z,
        false,
    ),
    phb32(
        RegId::Config0Low,
        "CONFIG_0_LOW",
        PHB_CONFIG_0_LOW,
        S,
        Z,
        false,
    ),
    phb32(
        RegId::Config0End,
        "CONFIG_0_END",
        PHB_CONFIG_0_END,
        S,
        Z,
        false,
    ),
    phb32(RegId::Csmr, "CSMR", PHB_CSMR, RO, Z, false),
    phb32(RegId::Mem2Low, "MEM_2_LOW", PHB_MEM_2_LOW, S, Z, false),
    phb32(RegId::Mem2High, "MEM_2_HIGH", PHB_MEM_2_HIGH, S, Z, false),
    phb32(
        RegId::Mem2SizeHigh,
        "MEM_2_SIZE_HIGH",
        PHB_MEM_2_SIZE_HIGH,
        S,
        Z,
        false,
    ),
    phb32(
        RegId::Mem2SizeLow,
        "MEM_2_SIZE_LOW",
        PHB_MEM_2_SIZE_LOW,
        S,
        Z,
        false,
    ),
    phb32(RegId::Mck, "MCK", PHB_MCK, RO, Z, false),
    phb32(RegId::Err0, "ERR_0x810", PHB_ERR_BASE, RO, Z, false),
    phb32(RegId::Err1, "ERR_0x820", PHB_ERR_BASE + 0x10, RO, Z, false),
    phb32(RegId::Err2, "ERR_0x830", PHB_ERR_BASE + 0x20, RO, Z, false),
    phb32(RegId::Err3, "ERR_0x840", PHB_ERR_BASE + 0x30, RO, Z, false),
    phb32(RegId::Err4, "ERR_0x850", PHB_ERR_BASE + 0x40, RO, Z, false),
    phb32(RegId::Err5, "ERR_0x860", PHB_ERR_BASE + 0x50, RO, Z, false),
    phb32(RegId::Err6, "ERR_0x870", PHB_ERR_BASE + 0x60, RO, Z, false),
    phb32(RegId::Doshole, "DOSHOLE", PHB_DOSHOLE_OFFSET, S, Z, false),
    phb32(
        RegId::RootComplexStatus,
        "ROOT_COMPLEX_STATUS",
        PHB_ROOT_COMPLEX_STATUS,
        RO,
        Z,
        true,
    ),
    phb32(
        RegId::Pmdr,
        "PAGE_MIG_DEBUG",
        PHB_PAGE_MIG_DEBUG,
        RO,
        Z,
        true,
    ),
    phb32(
        RegId::Pmcr,
        "PAGE_MIG_CTRL",
        PHB_PAGE_MIG_CTRL,
        BPmcr,
        Z,
        true,
    ),
    phb32(RegId::SaviorL2, "SAVIOR_L2", PHB_SAVIOR_L2, S, Z, true),
];

/// Registers the model keeps for the guest to read back but whose hardware
/// function it does not emulate (timeouts, PCI-side decoders, arbitration):
/// a write changes nothing else.  Writes to them are reported to `-d unimp`.
pub const STORED_ONLY: &[RegId] = &[
    RegId::CalgaryConfig,
    RegId::IobaseBarLow,
    RegId::IobaseBarHigh,
    RegId::IoAddrSize,
    RegId::MemSt,
    RegId::Aer,
    RegId::Config0High,
    RegId::Config0Low,
    RegId::Config0End,
    RegId::Doshole,
    RegId::SaviorL2,
];

/// A decoded MMIO offset.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Decoded {
    /// The register.
    pub reg: &'static RegInfo,
    /// PHB index (0 for chip-wide registers).
    pub phb: usize,
    /// Byte offset of the access inside the register (0..width).
    pub byte: u64,
}

/// Finds the register that contains `offset` on `variant`.
pub fn decode(variant: Variant, offset: u64) -> Option<Decoded> {
    for reg in REGISTERS.iter() {
        if !reg.present(variant) || offset < reg.base {
            continue;
        }
        let rel = offset - reg.base;
        let width = reg.width.bytes();
        match reg.placement {
            Placement::Chip => {
                if rel < width {
                    return Some(Decoded {
                        reg,
                        phb: 0,
                        byte: rel,
                    });
                }
            }
            Placement::PerPhb { stride } => {
                let p = rel / stride;
                let within = rel % stride;
                if p < crate::PHBS_PER_CHIP as u64 && within < width {
                    return Some(Decoded {
                        reg,
                        phb: p as usize,
                        byte: within,
                    });
                }
            }
        }
    }
    None
}
