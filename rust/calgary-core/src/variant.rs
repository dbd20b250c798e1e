//! The two chips of the family: Calgary (PCI-X) and CalIOC2 (PCIe).

use core::fmt;

/// Which chip is emulated.  Both have the same register layout; they differ
/// in PCI device ID, in the untranslated legacy window (§4 step 3), in the
/// CalIOC2-only registers (PMCR, PMDR, SAVIOR_L2, ROOT_COMPLEX_STATUS) and in
/// the TCE cache flush sequence Linux uses (§5).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Variant {
    /// IBM Calgary, PCI 1014:02a1.
    Calgary,
    /// IBM CalIOC2, PCI 1014:0308.
    CalIoc2,
}

impl Variant {
    /// PCI vendor ID of the PHB function (IBM).
    pub const VENDOR_ID: u16 = 0x1014;

    /// PCI device ID of the PHB function: 0x02a1 (Calgary) or 0x0308
    /// (CalIOC2).  Linux matches on this alone.
    pub fn device_id(self) -> u16 {
        match self {
            Variant::Calgary => 0x02a1,
            Variant::CalIoc2 => 0x0308,
        }
    }

    /// Name as Linux prints it ("Calgary" / "CalIOC2").
    pub fn name(self) -> &'static str {
        match self {
            Variant::Calgary => "Calgary",
            Variant::CalIoc2 => "CalIOC2",
        }
    }

    /// Start of the legacy IO-address window that is never translated
    /// (§4 step 3): 640 KiB on Calgary, 0 on CalIOC2.  The window ends at
    /// 1 MiB (exclusive) on both.
    pub fn legacy_window_start(self) -> u64 {
        match self {
            Variant::Calgary => 640 * 1024,
            Variant::CalIoc2 => 0,
        }
    }

    pub(crate) fn to_byte(self) -> u8 {
        match self {
            Variant::Calgary => 0,
            Variant::CalIoc2 => 1,
        }
    }

    pub(crate) fn from_byte(b: u8) -> Option<Self> {
        match b {
            0 => Some(Variant::Calgary),
            1 => Some(Variant::CalIoc2),
            _ => None,
        }
    }
}

impl fmt::Display for Variant {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// End (exclusive) of the legacy untranslated window, both variants.
pub const LEGACY_WINDOW_END: u64 = 1 << 20;
