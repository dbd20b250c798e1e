//! A tiny x86 option ROM that puts the Rio Grande table into the EBDA.
//!
//! SeaBIOS runs every fw_cfg file under `genroms/` as an option ROM during
//! POST, after it has set up the EBDA. Ours copies the table (built by the
//! core) to EBDA+0x180, reading the EBDA segment from the BDA word at 0x40E
//! exactly as Linux later does, and returns.

/// Real-mode entry code at ROM offset 3; `SI_IMM`/`CX_IMM` mark the two
/// 16-bit immediates patched with the table's offset and length.
const ENTRY: [u8; 30] = [
    0x60, //             pusha
    0x1E, //             push ds
    0x06, //             push es
    0x31, 0xC0, //       xor ax, ax
    0x8E, 0xD8, //       mov ds, ax
    0xA1, 0x0E, 0x04, // mov ax, [0x040E]     ; EBDA segment
    0x8E, 0xC0, //       mov es, ax
    0xBF, 0x80, 0x01, // mov di, 0x0180       ; Rio chain block
    0x0E, //             push cs
    0x1F, //             pop ds
    0xBE, 0x00, 0x00, // mov si, <table offset>
    0xB9, 0x00, 0x00, // mov cx, <table length>
    0xFC, //             cld
    0xF3, 0xA4, //       rep movsb
    0x07, //             pop es
    0x1F, //             pop ds
    0x61, //             popa
    0xCB, //             retf
];
const SI_IMM: usize = 3 + 18;
const CX_IMM: usize = 3 + 21;
const TABLE_OFFSET: usize = 0x40;
const ROM_BLOCK: usize = 512;

/// The ROM image for `table` (the bytes that belong at EBDA+0x180), or
/// `None` if the table cannot fit in the EBDA's first KiB.
pub fn rio_option_rom(table: &[u8]) -> Option<Vec<u8>> {
    if table.is_empty() || table.len() > 0x400 - 0x180 {
        return None;
    }
    let size = (TABLE_OFFSET + table.len() + 1).div_ceil(ROM_BLOCK) * ROM_BLOCK;
    let mut rom = vec![0u8; size];
    rom.get_mut(0..3)?
        .copy_from_slice(&[0x55, 0xAA, u8::try_from(size / ROM_BLOCK).ok()?]);
    rom.get_mut(3..3 + ENTRY.len())?.copy_from_slice(&ENTRY);
    let off = u16::try_from(TABLE_OFFSET).ok()?.to_le_bytes();
    let len = u16::try_from(table.len()).ok()?.to_le_bytes();
    rom.get_mut(SI_IMM..SI_IMM + 2)?.copy_from_slice(&off);
    rom.get_mut(CX_IMM..CX_IMM + 2)?.copy_from_slice(&len);
    rom.get_mut(TABLE_OFFSET..TABLE_OFFSET + table.len())?
        .copy_from_slice(table);
    // The last byte makes the whole image sum to zero, as BIOSes check.
    let sum = rom.iter().fold(0u8, |a, &b| a.wrapping_add(b));
    *rom.last_mut()? = sum.wrapping_neg();
    Some(rom)
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn rom_has_signature_size_and_zero_checksum() {
        let table = [0u8, 0, 0x52, 0x47, 3, 1, 1];
        let rom = rio_option_rom(&table).unwrap();
        assert_eq!(&rom[0..2], &[0x55, 0xAA]);
        assert_eq!(rom[2] as usize * 512, rom.len());
        assert_eq!(rom.iter().fold(0u8, |a, &b| a.wrapping_add(b)), 0);
        assert_eq!(&rom[TABLE_OFFSET..TABLE_OFFSET + table.len()], &table);
    }

    #[test]
    fn rom_immediates_point_at_the_table() {
        let table = [7u8; 79];
        let rom = rio_option_rom(&table).unwrap();
        // mov si, imm16 / mov cx, imm16 opcodes precede the immediates
        assert_eq!(rom[SI_IMM - 1], 0xBE);
        assert_eq!(rom[CX_IMM - 1], 0xB9);
        assert_eq!(
            u16::from_le_bytes([rom[SI_IMM], rom[SI_IMM + 1]]) as usize,
            TABLE_OFFSET
        );
        assert_eq!(
            u16::from_le_bytes([rom[CX_IMM], rom[CX_IMM + 1]]) as usize,
            79
        );
        // reads the EBDA segment from 0x40E and copies to offset 0x180
        assert_eq!(&rom[3 + 7..3 + 10], &[0xA1, 0x0E, 0x04]);
        assert_eq!(&rom[3 + 12..3 + 15], &[0xBF, 0x80, 0x01]);
        assert_eq!(rom[3 + ENTRY.len() - 1], 0xCB);
    }

    #[test]
    fn oversized_or_empty_table_is_refused() {
        assert!(rio_option_rom(&[]).is_none());
        assert!(rio_option_rom(&[0u8; 0x281]).is_none());
    }
}
