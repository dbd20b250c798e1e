//! sysfs PCI helpers and the `edu` device driven from user space.

use calgary_core::Variant;
use calgary_devmem::Mapping;
use std::fs;
use std::io::{Seek, SeekFrom, Write};
use std::time::{Duration, Instant};

#[derive(Clone, Debug)]
pub struct PciDev {
    pub addr: String, // 0000:BB:DD.F
    pub bus: u8,
    pub slot: u8,
    pub vendor: u16,
    pub device: u16,
    pub class: u32,
}

fn read_hex(path: &str) -> Option<u64> {
    let s = fs::read_to_string(path).ok()?;
    u64::from_str_radix(s.trim().trim_start_matches("0x"), 16).ok()
}

pub fn list() -> Vec<PciDev> {
    let mut v = Vec::new();
    let rd = match fs::read_dir("/sys/bus/pci/devices") {
        Ok(r) => r,
        Err(_) => return v,
    };
    for e in rd.flatten() {
        let addr = e.file_name().to_string_lossy().to_string();
        let parts: Vec<&str> = addr.split(':').collect();
        if parts.len() != 3 {
            continue;
        }
        let bus = u8::from_str_radix(parts[1], 16).unwrap_or(0);
        let slot = parts[2]
            .split('.')
            .next()
            .and_then(|s| u8::from_str_radix(s, 16).ok())
            .unwrap_or(0);
        let base = format!("/sys/bus/pci/devices/{addr}");
        let vendor = read_hex(&format!("{base}/vendor")).unwrap_or(0) as u16;
        let device = read_hex(&format!("{base}/device")).unwrap_or(0) as u16;
        let class = read_hex(&format!("{base}/class")).unwrap_or(0) as u32;
        v.push(PciDev {
            addr,
            bus,
            slot,
            vendor,
            device,
            class,
        });
    }
    v.sort_by(|a, b| a.addr.cmp(&b.addr));
    v
}

impl PciDev {
    pub fn sysfs(&self) -> String {
        format!("/sys/bus/pci/devices/{}", self.addr)
    }
    pub fn is_edu(&self) -> bool {
        self.vendor == 0x1234 && self.device == 0x11e8
    }
    pub fn is_e1000(&self) -> bool {
        self.vendor == 0x8086 && self.device == 0x100e
    }
    pub fn is_virtio_net(&self) -> bool {
        self.vendor == 0x1af4 && (self.device == 0x1041 || self.device == 0x1000)
    }
    pub fn is_nvme(&self) -> bool {
        self.class >> 8 == 0x0108
    }
    pub fn is_calgary_phb(&self) -> bool {
        self.vendor == Variant::VENDOR_ID
            && (self.device == Variant::Calgary.device_id()
                || self.device == Variant::CalIoc2.device_id())
    }
    pub fn kind(&self) -> &'static str {
        if self.is_edu() {
            "edu"
        } else if self.is_e1000() {
            "e1000"
        } else if self.is_virtio_net() {
            "virtio-net"
        } else if self.is_nvme() {
            "nvme"
        } else if self.is_calgary_phb() {
            "calgary-phb"
        } else {
            "other"
        }
    }
    /// Enable memory decoding + bus mastering.
    pub fn enable_master(&self) -> Result<(), String> {
        let base = self.sysfs();
        // `enable` may fail with EBUSY/EIO if already enabled; the config write is what counts.
        let _ = fs::write(format!("{base}/enable"), "1");
        let cfg = fs::read(format!("{base}/config")).map_err(|e| format!("read config: {e}"))?;
        if cfg.len() < 6 {
            return Err("config space too short".into());
        }
        let cmd = u16::from_le_bytes([cfg[4], cfg[5]]) | 0x0006;
        let mut f = fs::OpenOptions::new()
            .write(true)
            .open(format!("{base}/config"))
            .map_err(|e| format!("open config: {e}"))?;
        f.seek(SeekFrom::Start(4))
            .map_err(|e| format!("seek config: {e}"))?;
        f.write_all(&cmd.to_le_bytes())
            .map_err(|e| format!("write command register: {e}"))?;
        let cfg2 = fs::read(format!("{base}/config")).map_err(|e| format!("read config: {e}"))?;
        let now = u16::from_le_bytes([cfg2[4], cfg2[5]]);
        if now & 6 != 6 {
            return Err(format!("command register {now:#x} lacks MEM|MASTER"));
        }
        Ok(())
    }
}

/// QEMU's `edu` device (docs/specs/edu.rst): its DMA buffer's device
/// address and the BAR 0 registers this tool uses.
pub const EDU_BUF: u64 = 0x40000;
const EDU_ID: usize = 0x00;
const EDU_LIVENESS: usize = 0x04;
const EDU_DMA_SRC: usize = 0x80;
const EDU_DMA_DST: usize = 0x88;
const EDU_DMA_CNT: usize = 0x90;
const EDU_DMA_CMD: usize = 0x98;
/// EDU_DMA_CMD bits: start a transfer; direction edu buffer -> RAM.
const EDU_CMD_START: u64 = 1;
const EDU_CMD_TO_RAM: u64 = 2;

#[allow(dead_code)]
pub struct Edu {
    pub dev: PciDev,
    bar: Mapping,
}

impl Edu {
    pub fn open(dev: &PciDev) -> Result<Edu, String> {
        dev.enable_master()?;
        let bar = Mapping::new(&format!("{}/resource0", dev.sysfs()), 0, 0x1000, true)?;
        let id = bar.rd32(EDU_ID);
        if id & 0xff != 0xed {
            return Err(format!("edu id register reads {id:#x}, expected 0x..ed"));
        }
        bar.wr32(EDU_LIVENESS, 0x1234_5678);
        let inv = bar.rd32(EDU_LIVENESS);
        if inv != !0x1234_5678u32 {
            return Err(format!("edu liveness register returned {inv:#x}"));
        }
        Ok(Edu {
            dev: dev.clone(),
            bar,
        })
    }

    /// Start one DMA and wait (bounded) for it to complete.
    fn dma(&self, src: u64, dst: u64, cnt: u64, to_ram: bool) -> Result<(), String> {
        if self.bar.rd64(EDU_DMA_CMD) & EDU_CMD_START != 0 {
            return Err("edu DMA engine busy before start".into());
        }
        self.bar.wr64(EDU_DMA_SRC, src);
        self.bar.wr64(EDU_DMA_DST, dst);
        self.bar.wr64(EDU_DMA_CNT, cnt);
        self.bar.wr64(
            EDU_DMA_CMD,
            if to_ram {
                EDU_CMD_START | EDU_CMD_TO_RAM
            } else {
                EDU_CMD_START
            },
        );
        log::debug!(
            "{}: edu DMA {src:#x} -> {dst:#x}, {cnt} bytes",
            self.dev.addr
        );
        let t0 = Instant::now();
        while self.bar.rd64(EDU_DMA_CMD) & EDU_CMD_START != 0 {
            if t0.elapsed() > Duration::from_secs(10) {
                return Err("edu DMA did not complete within 10 s".into());
            }
            std::thread::sleep(Duration::from_millis(5));
        }
        Ok(())
    }
    /// RAM (bus address `io`) -> edu buffer at offset `off`.
    pub fn dma_to_device(&self, io: u64, off: u64, cnt: u64) -> Result<(), String> {
        self.dma(io, EDU_BUF + off, cnt, false)
    }
    /// edu buffer at offset `off` -> RAM (bus address `io`).
    pub fn dma_from_device(&self, off: u64, io: u64, cnt: u64) -> Result<(), String> {
        self.dma(EDU_BUF + off, io, cnt, true)
    }
}
