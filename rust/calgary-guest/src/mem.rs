//! The memory the command line reserved (`memmap=`): identity table, the
//! edu suite's TCE table and its data pages.

use crate::*;

pub(crate) const IDENT_OFF: usize = 0;
pub(crate) const EDU_TABLE_OFF: usize = 0x80_0000;
pub(crate) const PAGES_OFF: usize = 0x90_0000;

pub(crate) struct Mem {
    pub(crate) m: Mapping,
    pub(crate) base: u64,
}

impl Mem {
    pub(crate) fn open(cfg: &Config) -> Result<Mem, String> {
        let (base, size) = cfg.reserved().ok_or(
            "no reserved region: boot with memmap=64M$0x10000000 (or calgary.mem=ADDR:SIZE)",
        )?;
        if size < 0x100_0000 {
            return Err(format!("reserved region {size:#x} bytes is below 16 MiB"));
        }
        let m = Mapping::new("/dev/mem", base, 0x100_0000, false)
            .map_err(|e| format!("{e} (boot with iomem=relaxed?)"))?;
        Ok(Mem { m, base })
    }
    pub(crate) fn page_off(n: usize) -> usize {
        PAGES_OFF + n * 4096
    }
    pub(crate) fn page_phys(&self, n: usize) -> u64 {
        self.base + Self::page_off(n) as u64
    }
    pub(crate) fn fill_page(&self, n: usize, data: &[u8]) {
        self.m.write_bytes(Self::page_off(n), data)
    }
    pub(crate) fn page(&self, n: usize) -> Vec<u8> {
        self.m.read_bytes(Self::page_off(n), 4096)
    }
    pub(crate) fn set_tce(&self, table_off: usize, index: u64, val: u64) {
        self.m.wr64(table_off + 8 * index as usize, val.to_be());
    }
}
