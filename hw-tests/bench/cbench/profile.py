"""The emulator's share of QEMU's CPU, from a host `perf` profile.

`perf record -e cpu-clock` (the only event this VM offers: no hardware
counters) samples the whole QEMU process; `perf script` gives one line per
sample with its thread, CLOCK_MONOTONIC time and leaf symbol, which this
module puts into the measured windows of the cells and into categories:

  model    the IOMMU model itself: Calgary's C shim, FFI and core
           (calgary_*, calgary_core::, calgary_ffi::) or QEMU's intel-iommu (vtd_*)
  xlate    QEMU's IOMMU-only translate path (address_space_translate_iommu,
           address_space_get_iotlb_entry, memory_region_iommu_*, ...)
  as       QEMU's address-space code every DMA runs through, IOMMU or not
           (flatview_*, address_space_*, phys_page_find, dma_memory_*, ...)
  lock     lock waits and hand-offs: a contended Rust std mutex (the
           Calgary chip lock is the only one in QEMU), QEMU/pthread mutexes, futex
  guest    TCG-generated code (no symbol: the guest's own instructions)
  kernel   the host kernel (syscalls: tap, futex counted under lock)
  other    the rest of QEMU (TCG runtime, devices, main loop) and libraries

The emulator share of a configuration is model + xlate: what the IOMMU
emulation adds to QEMU's own work.
"""

from __future__ import annotations

import re
import subprocess
from pathlib import Path

CATEGORIES = ["model", "xlate", "as", "lock", "guest", "kernel", "other"]

_LINE = re.compile(r"^\s*(?P<comm>.*?)\s+(?P<tid>\d+)\s+(?P<time>\d+\.\d+):\s+(?:(?P<event>[\w:/=.,-]+):\s+)?"
                   r"(?P<ip>[0-9a-f]+)\s+(?P<sym>.*?)\s+\((?P<dso>[^()]*)\)\s*$")

_XLATE = ("address_space_translate_iommu", "address_space_get_iotlb_entry", "memory_region_iommu_",
          "memory_region_get_iommu", "iommu_notify", "memory_region_notify_iommu", "pci_device_iommu_address_space")
_AS = ("flatview_", "address_space_", "phys_page_find", "address_space_lookup_region", "dma_memory_",
       "dma_blk_", "dma_buf_", "qemu_sglist_", "qemu_map_ram_ptr", "qemu_ram_ptr_length", "memory_access_size",
       "prepare_mmio_access", "pci_dma_", "address_space_map", "address_space_unmap", "qemu_ram_block_from_host")
_LOCK = ("lock_contended", "futex", "__lll_lock", "pthread_mutex_", "qemu_mutex_", "qemu_futex",
         "qemu_event_", "___pthread_mutex", "__pthread_mutex", "std::sys::sync::mutex")


def classify(sym: str, dso: str) -> str:
    s = sym.split("+", 1)[0]
    if s.startswith("calgary_") or "calgary_core" in s or "calgary_ffi" in s or s.startswith("vtd_"):
        return "model"
    if any(k in s for k in _LOCK):
        return "lock"
    if s.startswith(_XLATE):
        return "xlate"
    if s.startswith(_AS):
        return "as"
    if dso == "[kernel.kallsyms]" or dso.startswith("[kernel"):
        return "kernel"
    # TCG's code buffer is anonymous memory: perf names it /tmp/perf-<pid>.map
    if s in ("[unknown]", "") and (dso in ("[unknown]", "") or dso.startswith(("[JIT]", "//anon", "[anon", "/tmp/perf-"))):
        return "guest"
    return "other"


def parse_samples(text: str) -> list[tuple[float, int, str, str, str]]:
    """(time, tid, comm, category, symbol) per cpu-clock line of `perf script
    -F comm,tid,time[,event],ip,sym,dso` (context-switch events are left out)."""
    out = []
    for line in text.splitlines():
        m = _LINE.match(line)
        if not m or (m.group("event") and "cpu-clock" not in m.group("event")):
            continue
        sym = m.group("sym")
        out.append((float(m.group("time")), int(m.group("tid")), m.group("comm"),
                    classify(sym, m.group("dso")), sym.split("+", 1)[0]))
    return out


def window_shares(samples, t0: float, t1: float) -> dict:
    """Category shares (percent of QEMU's samples) inside [t0, t1], the
    sample count, the vCPU threads' share and the hottest model symbols."""
    inside = [s for s in samples if t0 <= s[0] <= t1]
    n = len(inside)
    d = {c: 0 for c in CATEGORIES}
    syms: dict[str, int] = {}
    vcpu = 0
    for _, _, comm, cat, sym in inside:
        d[cat] += 1
        if comm.startswith("CPU "):
            vcpu += 1
        if cat in ("model", "xlate", "lock"):
            syms[sym] = syms.get(sym, 0) + 1
    out = {f"{c}_pct": (d[c] / n * 100 if n else float("nan")) for c in CATEGORIES}
    out["samples"] = n
    out["vcpu_pct"] = vcpu / n * 100 if n else float("nan")
    out["emulator_pct"] = out["model_pct"] + out["xlate_pct"] if n else float("nan")
    out["top"] = sorted(syms.items(), key=lambda kv: -kv[1])[:6]
    out["syms"] = syms
    return out


def detail(per_config: dict[str, tuple[int, dict[str, int]]], names: list[str]) -> list[str]:
    """Markdown: per configuration, the model/xlate/lock symbols that made
    its emulator share (percent of all QEMU samples in its windows)."""
    md = ["## Where the emulator share goes (perf, all windows of all repetitions)", "",
          "| config | samples | model + xlate % | hottest model, xlate and lock symbols (% of QEMU's samples) |", "|---|---|---|---|"]
    for n in names:
        if n not in per_config:
            continue
        total, syms = per_config[n]
        emu = {k: v for k, v in syms.items() if classify(k, "") in ("model", "xlate")}
        if not total or not emu:
            continue
        top = sorted(syms.items(), key=lambda kv: -kv[1])[:8]
        md.append(f"| {n} | {total} | {sum(emu.values()) / total * 100:.2f} | "
                  + ", ".join(f"`{k}` {v / total * 100:.2f}" for k, v in top) + " |")
    return md + [""]


def perf_script(data: Path) -> str:
    p = subprocess.run(["perf", "script", "-i", str(data), "-G", "-F", "comm,tid,time,event,ip,sym,dso", "--ns"],
                       capture_output=True, text=True)
    return p.stdout


# Why a thread left the CPU, from the frames of a sched_switch sample (leaf first).
BLOCK_REASONS = [
    ("Calgary chip lock", r"lock_contended"),
    ("BQL wait", r"bql_lock"),
    ("cross-vCPU work (run_on_cpu)", r"process_queued_cpu_work|run_on_cpu|async_safe_run_on_cpu"),
    ("other QEMU mutex wait", r"__lll_lock_wait|pthread_mutex_lock|qemu_mutex_lock"),
    ("waking a lock waiter", r"__lll_lock_wake"),
    ("vCPU halted / waiting for work", r"qemu_wait_io_event|qemu_cond_wait|qemu_sem_wait|qemu_event_wait"),
    ("eventfd kick", r"event_notifier_set"),
    ("main loop poll", r"ppoll|qemu_poll_ns|os_host_main_loop_wait|epoll_wait|g_poll|io_uring"),
]


def split_blocks(text: str) -> list[list[str]]:
    """`perf script` output with call chains: one list of lines per sample."""
    out, cur = [], []
    for line in text.splitlines():
        if not line.strip():
            if cur:
                out.append(cur)
            cur = []
        else:
            cur.append(line)
    if cur:
        out.append(cur)
    return out


def block_reasons(blocks: list[list[str]], t0: float, t1: float) -> dict[str, dict]:
    """Context switches of QEMU threads in [t0, t1] by reason and thread kind
    ("vCPU" or "I/O"), with the Calgary/QEMU caller of each chip-lock wait."""
    head = re.compile(r"^\s*(?P<comm>.*?)\s+(?P<tid>\d+)\s+(?P<time>\d+\.\d+):\s+(?P<event>[\w:-]+):")
    out: dict[str, dict] = {}
    for b in blocks:
        m = head.match(b[0])
        if not m or "sched_switch" not in m.group("event") or not t0 <= float(m.group("time")) <= t1:
            continue
        frames = [l.strip().split(None, 1)[-1] for l in b[1:]]
        reason = next((name for name, pat in BLOCK_REASONS if any(re.search(pat, f) for f in frames)), "other")
        kind = "vCPU" if m.group("comm").startswith("CPU ") else "I/O"
        d = out.setdefault(reason, {"vCPU": 0, "I/O": 0, "callers": {}})
        d[kind] += 1
        if reason == "Calgary chip lock":
            caller = next((f.split("+", 1)[0] for f in frames if "calgary" in f and "lock" not in f), "?")
            d["callers"][caller] = d["callers"].get(caller, 0) + 1
    return out


def perf_script_chains(data: Path) -> str:
    p = subprocess.run(["perf", "script", "-i", str(data), "-F", "comm,tid,time,event,ip,sym", "--ns"],
                       capture_output=True, text=True)
    return p.stdout
