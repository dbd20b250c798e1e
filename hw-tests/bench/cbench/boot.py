"""One QEMU boot running a list of cells: console protocol of /bench-init,
pinning, per-cell host CPU, perf, plugin and per-cell Calgary statistics."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

from . import host
from .configs import device_args

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))
from qmp import Qmp  # noqa: E402  (shared QMP client, hw-tests/qmp.py)

FIRMWARE = ["-L", "/usr/share/seabios", "-L", "/usr/lib/ipxe/qemu", "-L", "/usr/share/qemu"]
RESERVED = "memmap=64M$0x10000000"
MEM_MB = 1024
STAT_PROPS = ["stat-translations", "stat-cache-hits", "stat-cache-misses", "stat-stale-hits",
              "stat-tce-fetches", "stat-flushes", "stat-blocked", "stat-bypassed", "stat-window"]


def phb_stats(q: Qmp) -> dict[str, dict]:
    """Per PHB of chip 0: the statistics properties (cumulative since reset)."""
    out = {}
    for p in range(4):
        row = {}
        for prop in STAT_PROPS:
            r = q.cmd("qom-get", path=f"/machine/calgary0/phb{p}", property=prop)
            if "return" in r:
                row[prop.replace("stat-", "")] = r["return"]
        if row:
            out[f"calgary0.{p}"] = row
    return out


def stats_delta(a: dict, b: dict) -> dict:
    """b - a summed over PHBs, per statistic."""
    out: dict[str, int] = {}
    for phb, row in b.items():
        for k, v in row.items():
            out[k] = out.get(k, 0) + v - a.get(phb, {}).get(k, 0)
    return out


class Boot:
    """Options: smp, queues, pin=(vcpu_cpus, io_cpus) or None, perf_freq (0 =
    no perf), callgraph, plugin (the -plugin argument), cell_stats (QMP
    statistics at each window's edges: only for untimed boots), trace,
    prealloc (-mem-prealloc)."""

    def __init__(self, name: str, cfg: dict, qemu: Path, accel: str, guest_kernel: str, initrd: Path,
                 jobs: list[tuple], net: bool, outdir: Path, progress, *, smp: int = 1, queues: int = 1,
                 pin=None, perf_freq: int = 0, callgraph: bool = False, plugin: str | None = None,
                 cell_stats: bool = False, trace: Path | None = None, prealloc: bool = True):
        self.name, self.cfg, self.qemu, self.accel = name, cfg, qemu, accel
        self.kernel = cfg.get("kernel") or guest_kernel
        self.initrd, self.jobs, self.net, self.outdir, self.progress = initrd, jobs, net, outdir, progress
        self.smp, self.queues, self.pin, self.perf_freq, self.callgraph = smp, queues, pin, perf_freq, callgraph
        self.plugin, self.cell_stats, self.trace = plugin, cell_stats, trace
        self.prealloc = prealloc
        self.results: list[dict] = []
        self.stats: dict[str, dict] = {}
        self.console: list[str] = []
        self.error = ""
        self.perf_data: Path | None = None
        self.perf_note = ""
        self.vcpu_threads = 0
        self.cmdline: list[str] = []

    def command(self, qmp_path: str) -> list[str]:
        blk = any(j[1] == "blk" for j in self.jobs)
        # 2 MiB pages for the huge-page read buffers (one per thread, one
        # more for the guest's contiguity check).
        huge = max((j[7] + 1 for j in self.jobs if j[1] == "blk" and j[3] == "readhuge"), default=0)
        append = (f"console=ttyS0 rdinit=/bench-init loglevel=3 nokaslr iomem=relaxed {RESERVED} panic=-1 "
                  f"{f'hugepages={huge} ' if huge else ''}"
                  f"bench.nics={2 if self.net else 0} bench.blk={1 if blk else 0} "
                  f"bench.premap={1 if self.cfg.get('premap') else 0} {self.cfg.get('append', '')}").strip()
        cmd = [str(self.qemu), "-machine", self.cfg["machine"], "-accel", self.accel, "-m", str(MEM_MB),
               "-smp", str(self.smp), "-name", f"cbench-{self.name},debug-threads=on",
               "-nographic", "-no-reboot", "-no-shutdown", "-nodefaults", "-serial", "stdio",
               *FIRMWARE, "-kernel", self.kernel, "-initrd", str(self.initrd), "-append", append,
               "-qmp", f"unix:{qmp_path},server=on,wait=off"]
        if self.prealloc:
            # All guest RAM faulted in at start: QEMU madvises it for
            # transparent huge pages, so it is backed by huge pages before
            # the first cell instead of being collapsed during the run.
            cmd += ["-mem-prealloc"]
        if self.cfg.get("intel"):
            cmd += ["-device", "intel-iommu,intremap=off"]
        cmd += device_args(self.cfg["place"], self.net, blk, self.queues)
        if self.trace:
            cmd += ["-trace", "calgary_translate", "-trace", "calgary_flush", "-D", str(self.trace)]
        if self.plugin:
            cmd += ["-plugin", self.plugin]
        if self.net:
            cmd = ["ip", "netns", "exec", host.NETNS] + cmd
        return ["nice", "-n", "5"] + cmd

    def run(self) -> None:
        tmp = Path(tempfile.mkdtemp(prefix="cbench-"))
        qmp_path = str(tmp / "qmp.sock")
        cmd = self.command(qmp_path)
        self.cmdline = cmd
        (self.outdir / f"cmd-{self.name}.txt").write_text(" ".join(cmd) + "\n")
        io_cpus = self.pin[1] if self.pin else None
        proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                                preexec_fn=(lambda: os.sched_setaffinity(0, io_cpus)) if io_cpus else None)
        pid = proc.pid  # nice and `ip netns exec` exec QEMU in place
        lines: list[tuple[float, str]] = []
        lock = threading.Condition()
        done = threading.Event()

        def reader() -> None:
            for raw in proc.stdout:
                s = raw.decode(errors="replace").rstrip("\r\n")
                with lock:
                    lines.append((time.monotonic(), s))
                    lock.notify_all()
            with lock:
                done.set()
                lock.notify_all()

        threading.Thread(target=reader, daemon=True).start()
        slow = 3 if self.plugin else 1
        timeout = 120 * slow + sum((float(j[5]) + float(j[6]) + 15) * slow for j in self.jobs)
        deadline = time.monotonic() + timeout
        idx, finished, pinned = 0, False, False
        cur: dict | None = None
        perf = None
        q: Qmp | None = None

        def repin() -> None:
            if self.pin:
                self.vcpu_threads = max(self.vcpu_threads, host.pin_threads(pid, self.pin[0], self.pin[1]))

        try:
            while time.monotonic() < deadline and not finished:
                with lock:
                    while idx >= len(lines) and not done.is_set():
                        lock.wait(1.0)
                        if time.monotonic() > deadline:
                            break
                    batch = lines[idx:]
                    idx = len(lines)
                    ended = done.is_set() and idx >= len(lines)
                for t, s in batch:
                    self.console.append(s)
                    if not pinned:
                        repin()
                        pinned = True
                    if s.startswith("BENCH-READY"):
                        repin()
                        if self.perf_freq:
                            self.perf_data = tmp / "perf.data"
                            perf = host.Perf(pid, self.perf_data, self.perf_freq, self.callgraph, io_cpus)
                        if self.cell_stats:
                            try:
                                q = Qmp(qmp_path, timeout=10)
                            except (OSError, ConnectionError) as e:
                                self.error += f"QMP: {e}; "
                    elif s.startswith("BENCH-START "):
                        cur = {"id": s.split()[1]}
                        self.progress(self.name, cur["id"])
                    elif s.startswith("BENCH-MEASURE") and cur is not None:
                        repin()
                        cur["t0"], cur["cpu0"] = t, host.thread_cpu_ns(pid)
                        if q:
                            cur["s0"] = phb_stats(q)
                    elif s.startswith("BENCH-RESULT ") and cur is not None and "t0" in cur:
                        cur["t1"], cur["cpu1"] = t, host.thread_cpu_ns(pid)
                        if q:
                            cur["cell_stats"] = stats_delta(cur.pop("s0", {}), phb_stats(q))
                        cur.update(dict(x.split("=", 1) for x in s.split()[1:] if "=" in x))
                    elif s.startswith("BENCH-END ") and cur is not None:
                        if "mbps" in cur and "t1" in cur:
                            wall = max(cur["t1"] - cur["t0"], 1e-3)
                            dv = cur["cpu1"][0] - cur["cpu0"][0]
                            do = cur["cpu1"][1] - cur["cpu0"][1]
                            cur["host_vcpu_s"], cur["host_io_s"] = dv / 1e9, do / 1e9
                            cur["host_cpu"] = (dv + do) / 1e9 / wall
                            self.results.append(cur)
                        else:
                            self.error += f"{cur['id']}: no result; "
                        cur = None
                    elif s.startswith("BENCH-ERROR"):
                        self.error += s + "; "
                    elif s.startswith("BENCH-DONE"):
                        finished = True
                    elif "Kernel panic" in s:
                        self.error += s.strip() + "; "
                        deadline = time.monotonic()
                if ended:
                    break
        finally:
            if perf:
                self.perf_note = perf.stop()
            if finished:
                try:
                    q = q or Qmp(qmp_path, timeout=5)
                    if self.cfg["place"] == "calgary":
                        self.stats = phb_stats(q)
                    q.cmd("quit")
                except (OSError, ConnectionError, ValueError):
                    pass
            else:
                self.error += f"guest did not finish within {timeout:.0f}s; "
            if q:
                try:
                    q.close()
                except (OSError, ConnectionError):
                    pass
            try:
                proc.wait(10)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
            (self.outdir / f"console-{self.name}.log").write_text("\n".join(self.console) + "\n")
            if self.perf_data and self.perf_data.exists():
                keep = self.outdir / "perf" / f"{self.name}.data"
                keep.parent.mkdir(exist_ok=True)
                shutil.move(str(self.perf_data), keep)
                self.perf_data = keep
            shutil.rmtree(tmp, ignore_errors=True)
