//! The `smp` suite: the `kernel` suite, then all four PHBs of chip 0 driven
//! at once from four vCPUs with the kernel's own Calgary driver
//! translating: nvme O_DIRECT writes and reads, TFTP through both NICs, and
//! edu DMA through TCEs placed in the kernel's table of edu's PHB. Every
//! worker checks its data; the runner checks (sync points `smp-begin` /
//! `smp-end`) that every PHB's translation counter moved in the window.

use crate::*;
use std::os::unix::fs::FileExt;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};

/// Online CPUs from `/sys/devices/system/cpu/online` ("0-3", "0,2-3").
fn online_cpus() -> Vec<usize> {
    let s = fs::read_to_string("/sys/devices/system/cpu/online").unwrap_or_default();
    let mut out = Vec::new();
    for part in s.trim().split(',').filter(|p| !p.is_empty()) {
        let mut it = part.splitn(2, '-');
        let a = it.next().and_then(|x| x.parse::<usize>().ok());
        let b = it.next().and_then(|x| x.parse::<usize>().ok());
        match (a, b) {
            (Some(a), Some(b)) => out.extend(a..=b),
            (Some(a), None) => out.push(a),
            _ => {}
        }
    }
    out
}

/// Pins the calling thread to `cpu`.
fn pin(cpu: usize) -> Result<(), String> {
    // SAFETY: a zeroed cpu_set_t is valid; CPU_SET stays in bounds for
    // cpu < CPU_SETSIZE (checked).
    unsafe {
        let mut set: libc::cpu_set_t = std::mem::zeroed();
        if cpu >= libc::CPU_SETSIZE as usize {
            return Err(format!("cpu {cpu} out of range"));
        }
        libc::CPU_SET(cpu, &mut set);
        if libc::sched_setaffinity(0, std::mem::size_of::<libc::cpu_set_t>(), &set) != 0 {
            return Err(format!(
                "sched_setaffinity(cpu {cpu}): {}",
                std::io::Error::last_os_error()
            ));
        }
        Ok(())
    }
}

/// The CPU the calling thread runs on now.
fn current_cpu() -> i32 {
    // SAFETY: no arguments.
    unsafe { libc::sched_getcpu() }
}

/// One worker's result: what it did, or what went wrong.
type Outcome = Result<String, String>;

/// Keeps the four workers busy together: each runs at least its minimum
/// of rounds and goes on until every worker has done its own (or one
/// failed).
struct Pace {
    reached: AtomicUsize,
    workers: usize,
    stop: AtomicBool,
}

impl Pace {
    /// Whether to start another round after `done` rounds (minimum `min`).
    fn more(&self, done: u32, min: u32, counted: &mut bool) -> bool {
        if self.stop.load(Ordering::Relaxed) {
            return false;
        }
        if done >= min && !*counted {
            *counted = true;
            self.reached.fetch_add(1, Ordering::Relaxed);
        }
        self.reached.load(Ordering::Relaxed) < self.workers
    }
}

/// A named worker of the concurrent phase.
type Job<'a> = (&'static str, Box<dyn FnOnce() -> Outcome + Send + 'a>);

/// Rounds of nvme O_DIRECT write + read-back, 1 MiB each at its own offset.
fn nvme_worker(path: &str, min: u32, pace: &Pace) -> Outcome {
    let len = 1usize << 20;
    let mut wbuf = sys::AlignedBuf::new(len).ok_or("allocation failed")?;
    let mut rbuf = sys::AlignedBuf::new(len).ok_or("allocation failed")?;
    let f = sys::open_direct(path, true)?;
    let (mut done, mut counted) = (0, false);
    while pace.more(done, min, &mut counted) {
        let i = done;
        // Past the kernel suite's 4 MiB at 1 MiB; the disk is 16 MiB.
        let off = (6 + u64::from(i % 8)) << 20;
        let data = pattern(0x5300 + i, len);
        wbuf.as_mut_slice().copy_from_slice(&data);
        f.write_all_at(wbuf.as_slice(), off)
            .map_err(|e| format!("round {i}: O_DIRECT write: {e}"))?;
        f.sync_all().map_err(|e| format!("round {i}: fsync: {e}"))?;
        rbuf.as_mut_slice().fill(0);
        f.read_exact_at(rbuf.as_mut_slice(), off)
            .map_err(|e| format!("round {i}: O_DIRECT read: {e}"))?;
        if let Some(b) = first_diff(rbuf.as_slice(), &data) {
            return Err(format!(
                "round {i}: read-back differs at byte {b} (offset {off:#x})"
            ));
        }
        done += 1;
    }
    Ok(format!(
        "{done} x 1 MiB O_DIRECT write+read at {path}, identical"
    ))
}

/// Rounds of a TFTP download through interface `ifn`, md5 checked.
fn net_worker(ifn: &str, blob: &str, md5: &str, min: u32, pace: &Pace) -> Outcome {
    let server = dhcp_server(ifn)?;
    let local = format!("/tmp/smp-{blob}.{ifn}");
    let mut bytes = 0;
    let (mut done, mut counted) = (0, false);
    while pace.more(done, min, &mut counted) {
        let i = done;
        let (ok, out) = run(
            "tftp",
            &["-g", "-b", "1400", "-r", blob, "-l", &local, &server],
            Duration::from_secs(120),
        );
        if !ok {
            return Err(format!(
                "round {i}: tftp {blob} from {server} via {ifn}: {out}"
            ));
        }
        let (_, sum) = run("md5sum", &[&local], Duration::from_secs(30));
        let got = sum.split_whitespace().next().unwrap_or("");
        if got != md5 {
            return Err(format!("round {i}: md5 {got} != {md5} via {ifn}"));
        }
        bytes += fs::metadata(&local).map(|m| m.len()).unwrap_or(0);
        let _ = fs::remove_file(&local);
        done += 1;
    }
    Ok(format!(
        "{done} TFTP downloads via {ifn} from {server}, {bytes} bytes, md5 matches"
    ))
}

/// TCEs this suite places at the top of the kernel's table of edu's PHB
/// (no driver maps anything there: edu has none).
const EDU_TCES: u64 = 4;
/// Reserved pages (Mem) the edu TCEs point at.
const EDU_PAGE0: usize = 40;

/// Rounds of edu DMA: a page of RAM to edu's buffer through one TCE, back
/// to another page through another, compared.
fn edu_worker(edu: &Edu, mem: &Mem, io: &[u64], min: u32, pace: &Pace) -> Outcome {
    let (mut done, mut counted) = (0, false);
    while pace.more(done, min, &mut counted) {
        let i = done;
        let src = (i as usize) % 2;
        let dst = 2 + (i as usize) % 2;
        let pat = pattern(0xED00 + i, 4096);
        mem.fill_page(EDU_PAGE0 + src, &pat);
        mem.fill_page(EDU_PAGE0 + dst, &[0u8; 4096]);
        edu.dma_to_device(io[src], 0, 4096)
            .map_err(|e| format!("round {i}: RAM->edu: {e}"))?;
        edu.dma_from_device(0, io[dst], 4096)
            .map_err(|e| format!("round {i}: edu->RAM: {e}"))?;
        check_page(mem, EDU_PAGE0 + dst, 0, &pat)
            .map_err(|e| format!("round {i}: page through IO {:#x}: {e}", io[dst]))?;
        done += 1;
    }
    Ok(format!(
        "{done} x (4 KiB RAM->edu->RAM) through TCEs at IO {:#x}..{:#x}, identical",
        io[0],
        io[EDU_TCES as usize - 1] + 0xfff
    ))
}

/// The kernel's TCE table through read()/write() of `/dev/mem` (an mmap of
/// RAM the kernel owns is refused; read/write reach it without STRICT_DEVMEM).
struct KernelTable {
    f: fs::File,
    base: u64,
}

impl KernelTable {
    fn get(&self, index: u64) -> Result<u64, String> {
        let mut b = [0u8; 8];
        self.f
            .read_exact_at(&mut b, self.base + 8 * index)
            .map_err(|e| format!("read TCE {index}: {e}"))?;
        Ok(u64::from_be_bytes(b))
    }
    fn set(&self, index: u64, v: u64) -> Result<(), String> {
        self.f
            .write_all_at(&v.to_be_bytes(), self.base + 8 * index)
            .map_err(|e| format!("write TCE {index}: {e}"))
    }
}

/// Places `EDU_TCES` TCEs for the reserved pages near the top of the
/// kernel's TCE table of `phb`; returns the IO addresses, the table and the
/// first index (to clear them afterwards).
fn map_edu(plat: &Platform, phb: &Phb, mem: &Mem) -> Result<(Vec<u64>, KernelTable, u64), String> {
    let chip = plat.chip(phb);
    if chip.config(phb.phb) & TCE_ENABLE == 0 {
        return Err(format!("{} is not translated", Platform::name(phb)));
    }
    let tar = chip.tar(phb.phb);
    let entries = 8192u64 << (tar & regs::TAR_SIZE_MASK);
    let table = KernelTable {
        f: fs::OpenOptions::new()
            .read(true)
            .write(true)
            .open("/dev/mem")
            .map_err(|e| format!("open /dev/mem: {e}"))?,
        base: tar & regs::TAR_TABLE_ADDR_MASK,
    };
    // The last EDU_TCES entries, kept below 2 GiB: the PHB's MEM_1 window
    // (untranslated) starts at the PCI hole, 0x80000000 at the lowest.
    let first = entries.min(0x8_0000) - EDU_TCES;
    let mut io = Vec::new();
    for k in 0..EDU_TCES {
        let old = table.get(first + k)?;
        if old & (TCE_READ | TCE_WRITE) != 0 {
            return Err(format!(
                "TCE {} of {} is in use ({old:#x})",
                first + k,
                Platform::name(phb)
            ));
        }
        let phys = mem.page_phys(EDU_PAGE0 + k as usize);
        table.set(first + k, phys | TCE_READ | TCE_WRITE)?;
        io.push((first + k) << 12);
    }
    Ok((io, table, first))
}

pub(crate) fn suite_smp(r: &mut Report, cfg: &Config) {
    suite_kernel(r, cfg);
    let name = "smp-four-phbs";
    let cpus = online_cpus();
    let want: usize = cfg
        .get("smp_cpus")
        .and_then(|s| s.parse().ok())
        .unwrap_or(4);
    if cpus.len() < want {
        r.fail(
            name,
            &format!(
                "{} CPUs online ({cpus:?}), {want} wanted (boot with -smp {want})",
                cpus.len()
            ),
        );
        return;
    }
    let devs = pci::list();
    let mut quiet = Report {
        fails: 0,
        passes: 0,
        skips: 0,
        prefix: "smp-".into(),
        crash_next: false,
    };
    let Some(plat) = discover(&mut quiet, cfg, &devs) else {
        r.fail(name, "no Calgary platform found");
        return;
    };
    let on_phb = |f: fn(&PciDev) -> bool| {
        devs.iter()
            .find(|d| f(d) && plat.phb_of(d).is_some())
            .cloned()
    };
    let (Some(nvme), Some(e1000), Some(vnet), Some(edu_dev)) = (
        on_phb(PciDev::is_nvme),
        on_phb(PciDev::is_e1000),
        on_phb(PciDev::is_virtio_net),
        on_phb(PciDev::is_edu),
    ) else {
        r.fail(
            name,
            "needs nvme, e1000, virtio-net and edu behind Calgary PHBs",
        );
        return;
    };
    let phb_names: Vec<String> = [&nvme, &e1000, &vnet, &edu_dev]
        .iter()
        .filter_map(|d| plat.phb_of(d).map(Platform::name))
        .collect();
    let res = (|| -> Result<String, String> {
        let path = nvme_block(&nvme).ok_or("no nvme block device")?;
        let if1 = netdev_for(&e1000).ok_or("no e1000 interface")?;
        let if2 = netdev_for(&vnet).ok_or("no virtio-net interface")?;
        let blob = cfg.get_or("blob", "blob.bin").to_string();
        let md5 = cfg
            .get("blob_md5")
            .ok_or("no calgary.blob_md5=")?
            .to_string();
        let mem = Mem::open(cfg)?;
        let edu_phb = plat.phb_of(&edu_dev).ok_or("edu PHB vanished")?.clone();
        let (io, table, first) = map_edu(&plat, &edu_phb, &mem)?;
        let rounds: u32 = cfg
            .get("smp_rounds")
            .and_then(|s| s.parse().ok())
            .unwrap_or(6);
        let pace = Pace {
            reached: AtomicUsize::new(0),
            workers: 4,
            stop: AtomicBool::new(false),
        };
        let _ = sync_point(cfg, "smp-begin");
        let t0 = Instant::now();
        let results: Vec<(String, i32, f64, Outcome)> = std::thread::scope(|s| {
            let mut hs = Vec::new();
            let jobs: Vec<Job<'_>> = vec![
                ("nvme", Box::new(|| nvme_worker(&path, rounds * 4, &pace))),
                (
                    "e1000",
                    Box::new(|| net_worker(&if1, &blob, &md5, rounds, &pace)),
                ),
                (
                    "virtio-net",
                    Box::new(|| net_worker(&if2, &blob, &md5, rounds, &pace)),
                ),
                (
                    "edu",
                    // /dev/mem mappings stay on the thread that made them.
                    Box::new(|| {
                        let mem = Mem::open(cfg)?;
                        let edu = Edu::open(&edu_dev)?;
                        edu_worker(&edu, &mem, &io, rounds * 8, &pace)
                    }),
                ),
            ];
            for ((label, job), cpu) in jobs.into_iter().zip(cpus.iter().copied()) {
                let pace = &pace;
                hs.push(s.spawn(move || {
                    let pinned = pin(cpu);
                    let on = current_cpu();
                    let t = Instant::now();
                    let out = pinned.and_then(|_| job());
                    if out.is_err() {
                        // A failed worker ends the others early.
                        pace.stop.store(true, Ordering::Relaxed);
                    }
                    (label.to_string(), on, t.elapsed().as_secs_f64(), out)
                }));
            }
            hs.into_iter()
                .map(|h| {
                    h.join()
                        .unwrap_or_else(|_| ("?".into(), -1, 0.0, Err("worker panicked".into())))
                })
                .collect()
        });
        let secs = t0.elapsed().as_secs_f64();
        let _ = sync_point(cfg, "smp-end");
        for k in 0..EDU_TCES {
            let _ = table.set(first + k, 0);
        }
        let mut parts = Vec::new();
        let mut errs = Vec::new();
        let mut cpus_used: Vec<i32> = Vec::new();
        for (label, cpu, t, out) in &results {
            cpus_used.push(*cpu);
            match out {
                Ok(m) => parts.push(format!("{label} on cpu{cpu} {t:.1}s: {m}")),
                Err(e) => errs.push(format!("{label} on cpu{cpu}: {e}")),
            }
        }
        cpus_used.sort_unstable();
        cpus_used.dedup();
        if !errs.is_empty() {
            return Err(errs.join("; "));
        }
        if cpus_used.len() < 4 {
            return Err(format!(
                "workers ran on CPUs {cpus_used:?}, not four: {}",
                parts.join("; ")
            ));
        }
        Ok(format!(
            "4 workers on CPUs {cpus_used:?} at once for {secs:.1}s across {}: {}",
            phb_names.join(", "),
            parts.join("; ")
        ))
    })();
    r.result(name, res);
    let dev_phbs: Vec<Phb> = [&nvme, &e1000, &vnet, &edu_dev]
        .iter()
        .filter_map(|d| plat.phb_of(d).cloned())
        .collect();
    let mut h = Report {
        fails: 0,
        passes: 0,
        skips: 0,
        prefix: "smp-".into(),
        crash_next: false,
    };
    phb_health(&mut h, &plat, &dev_phbs, true);
    r.fails += h.fails;
    r.passes += h.passes;
    r.skips += h.skips;
}
