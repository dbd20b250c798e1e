#!/usr/bin/env python3
"""The "Price of Safety" benchmark on the emulated Calgary machine.

Usage:
  bench.py [--quick] [--out DIR] [--reps N] [--secs S] [--configs a,b,..]
           [--trace] [--qemu PATH] [--accel tcg|kvm]

Boots the same Linux guest (Debian's kernel + the test initramfs from
guest-images/build-initramfs.sh, plus an extra cpio appended here with the
static `calgary-bench` workload binary and /bench-init) once per
configuration and runs the same DMA-bound workloads in each:

  net   TCP stream (guest sends) and request/response at 64 B..64 KiB over
        e1000 and virtio-net, to `calgary-bench-host peer` running in a
        network namespace; QEMU runs in that namespace too and reaches the
        peer through a tap device (traffic never leaves this machine, no slirp).
  blk   O_DIRECT sequential reads from an nvme on `driver=null-co` at
        several request sizes.

Configurations (ratios are to the matching no-IOMMU baseline):
  nommu            -machine calgary,chips=0 (a plain PC)            baseline
  bypass           Calgary present, translation off                 vs nommu
  premap-off       Calgary, identity TCE table (pre-map), no cache  vs nommu
  premap-coherent  ... coherent TCE cache                           vs nommu
  premap-faithful  ... faithful TCE cache                           vs nommu
  q35              -machine q35, no IOMMU                            baseline
  intel-lazy       q35 + intel-iommu, intel_iommu=on (lazy flush)   vs q35
  intel-strict     ... iommu.strict=1                               vs q35
  user-nommu       $CALGARY_GUEST_KERNEL on chips=0                 baseline
  user-calgary     $CALGARY_GUEST_KERNEL doing its own map/unmap    vs user-nommu
  user-calgary-line8  the same with TCE line fill (tce-cache-line=8)  vs user-nommu
  user-q35         $CALGARY_GUEST_KERNEL on q35, no IOMMU           baseline
  user-intel-lazy  $CALGARY_GUEST_KERNEL with intel-iommu (lazy)    vs user-q35

With --insns (needs $CALGARY_GUEST_KERNEL and its System.map next to it or
in $CALGARY_GUEST_SYSTEM_MAP) one extra boot per user-kernel configuration
runs under the TCG plugin (rust/calgary-plugin) and reports the guest
instructions spent in the kernel's IOMMU map/unmap/flush functions.

Measures throughput (in the guest), guest CPU (/proc/stat in the guest) and
host CPU of the QEMU process (/proc/<pid>/stat), with several repetitions
(interleaved); reports the median and the spread (min..max).

Output in DIR (default hw-tests/bench/results/<timestamp>/): results.md
(paper-shaped table), raw.csv, summary.csv, *.png (`calgary-bench-host
plot`), phb-stats.txt, and with --trace a calgary_translate trace of one
pre-mapped run replayed through `calgary-bench-host replay` (TCE-cache
design space).

Two Rust tools: rust/calgary-bench (the workloads, a static binary inside
the guest) and rust/calgary-bench-host (network peer, plots, replay; on the
host). Python 3.11 stdlib plus qemu.qmp through hw-tests/qmp.py; the cpio
tool builds the appended archive. Needs root for the network namespace and
/dev/net/tun; without them the network workloads are skipped (said so in
the report).
"""

from __future__ import annotations

import argparse
import csv
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
REPO = HERE.parents[1]
sys.path.insert(0, str(REPO / "hw-tests"))
from qmp import Qmp  # noqa: E402  (shared QMP client)
DEFAULT_QEMU = REPO / "build" / "qemu-system-x86_64"
ASSEMBLE = REPO / "guest-images" / "build-initramfs.sh"
FIRMWARE = ["-L", "/usr/share/seabios", "-L", "/usr/lib/ipxe/qemu", "-L", "/usr/share/qemu"]
CACHE = Path(os.environ.get("XDG_CACHE_HOME", Path.home() / ".cache")) / "calgary-qemu"
BENCH_TARGET = CACHE / "bench-target"
HOST_TOOL = REPO / "target" / "release" / "calgary-bench-host"
NETNS = "cbench"
TAPS = {"e1000": ("cbt1", "10.77.1.1", "10.77.1.2"), "virtio": ("cbt2", "10.77.2.1", "10.77.2.2")}
PORT = 5001
RESERVED = "memmap=64M$0x10000000"
MEM_MB = 1024
STAT_PROPS = ["stat-translations", "stat-cache-hits", "stat-cache-misses", "stat-stale-hits",
              "stat-tce-fetches", "stat-flushes", "stat-blocked", "stat-bypassed", "stat-window"]

BENCH_INIT = r"""#!/bin/sh
# /bench-init: appended by hw-tests/bench/bench.py (rdinit=/bench-init)
export PATH=/bin:/sbin
mount -t proc proc /proc
mount -t sysfs sysfs /sys
mount -t devtmpfs devtmpfs /dev 2>/dev/null
echo "BENCH-INIT $(uname -r)"
param() { for w in $(cat /proc/cmdline); do case "$w" in bench.$1=*) echo "${w#bench.$1=}";; esac; done; }
if [ "$(param premap)" = 1 ]; then
    calgary-bench premap || echo "BENCH-ERROR premap failed"
fi
kver=$(uname -r)
list=/lib/modules/$kver/calgary-modules.list
if [ -f "$list" ]; then
    while read m; do [ -n "$m" ] && insmod "/lib/modules/$kver/$m" 2>/dev/null; done < "$list"
fi
ip link set lo up
i=0
while [ $i -lt 100 ]; do
    n=0; for d in /sys/class/net/eth*; do [ -e "$d" ] && n=$((n+1)); done
    [ $n -ge $(param nics) ] && break
    sleep 0.1; i=$((i+1))
done
for d in /sys/class/net/eth*; do
    [ -e "$d" ] || continue
    dev=${d##*/}
    drv=$(readlink "$d/device/driver"); drv=${drv##*/}
    case "$drv" in
        e1000) ip addr add 10.77.1.2/24 dev "$dev"; ip link set "$dev" up; echo "BENCH-NIC e1000 $dev" ;;
        virtio_net|virtio*) ip addr add 10.77.2.2/24 dev "$dev"; ip link set "$dev" up; echo "BENCH-NIC virtio $dev" ;;
    esac
done
i=0
while [ $i -lt 100 ] && [ ! -b /dev/nvme0n1 ] && [ "$(param blk)" = 1 ]; do sleep 0.1; i=$((i+1)); done
echo "BENCH-READY"
while read id kind nic mode size secs; do
    [ -n "$id" ] || continue
    echo "BENCH-START $id"
    case "$kind" in
        net) if [ "$nic" = e1000 ]; then srv=10.77.1.1; else srv=10.77.2.1; fi
             calgary-bench net --server $srv:5001 --mode $mode --size $size --secs $secs 2>&1 ;;
        blk) calgary-bench blk --dev /dev/nvme0n1 --size $size --secs $secs 2>&1 ;;
    esac
    echo "BENCH-END $id rc=$?"
done < /bench-jobs
echo "BENCH-DONE"
sync
poweroff -f
"""


def log(msg: str) -> None:
    print(msg, file=sys.stderr, flush=True)


# ---------------------------------------------------------------- cpio (newc)

def cpio_archive(files: dict[str, tuple[int, bytes]]) -> bytes:
    """A newc archive made by the cpio tool, reproducibly like
    guest-images/build-initramfs.sh: root-owned, mtime 0, names sorted.
    files: path without leading / -> (permission bits, content); their
    parent directories are added (mode 0755)."""
    with tempfile.TemporaryDirectory(prefix="cbench-cpio-") as tmp:
        root = Path(tmp)
        for name, (perm, data) in files.items():
            p = root / name
            p.parent.mkdir(parents=True, exist_ok=True)
            p.write_bytes(data)
            p.chmod(perm)
        names = sorted(str(p.relative_to(root)) for p in root.rglob("*"))
        for n in names:
            if (root / n).is_dir():
                (root / n).chmod(0o755)
            os.utime(root / n, (0, 0), follow_symlinks=False)
        repro = ["--reproducible"] if cpio_reproducible() else []
        p = subprocess.run(["cpio", "--quiet", "-o", "-H", "newc", "-R", "0:0", *repro], cwd=root,
                           input="".join(n + "\n" for n in names).encode(), capture_output=True)
        if p.returncode != 0:
            raise RuntimeError(f"cpio failed: {p.stderr.decode(errors='replace').strip()}")
        return p.stdout


def cpio_reproducible() -> bool:
    """Whether this cpio has --reproducible (stable inode numbers)."""
    p = subprocess.run(["cpio", "--help"], capture_output=True, text=True)
    return "--reproducible" in p.stdout


# ---------------------------------------------------------------- setup

def host_cpu_ticks(pid: int) -> int:
    try:
        f = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        return int(f[11]) + int(f[12])  # utime + stime (fields 14, 15)
    except (OSError, IndexError, ValueError):
        return 0


def build_tool() -> Path:
    """The guest workload binary, static (it runs in the guest's initramfs)."""
    env = dict(os.environ, RUSTFLAGS="-C target-feature=+crt-static")
    p = subprocess.run(["nice", "cargo", "build", "-q", "--release", "-p", "calgary-bench",
                        "--target", "x86_64-unknown-linux-gnu", "--target-dir", str(BENCH_TARGET)],
                       cwd=REPO, env=env, capture_output=True, text=True, timeout=1800)
    if p.returncode != 0:
        raise RuntimeError(f"cargo build calgary-bench failed:\n{p.stderr[-3000:]}")
    return BENCH_TARGET / "x86_64-unknown-linux-gnu" / "release" / "calgary-bench"


def build_host_tool() -> Path:
    """The host tools: network peer, plots, replay."""
    p = subprocess.run(["nice", "cargo", "build", "-q", "--release", "-p", "calgary-bench-host"],
                       cwd=REPO, capture_output=True, text=True, timeout=1800)
    if p.returncode != 0:
        raise RuntimeError(f"cargo build calgary-bench-host failed:\n{p.stderr[-3000:]}")
    return HOST_TOOL


def assemble_guest() -> dict[str, str]:
    p = subprocess.run(["bash", str(ASSEMBLE), "--quiet"], capture_output=True, text=True, timeout=1800)
    if p.returncode != 0:
        raise RuntimeError(f"guest-images/build-initramfs.sh failed:\n{p.stderr[-3000:]}")
    env = {}
    for line in p.stdout.splitlines():
        if "=" in line:
            k, v = line.split("=", 1)
            env[k.strip()] = v.strip()
    for k in ("KERNEL", "INITRD"):
        if not env.get(k) or not Path(env[k]).exists():
            raise RuntimeError(f"build-initramfs.sh gave no usable {k}")
    return env


def setup_netns(host_tool: Path) -> tuple[bool, str, subprocess.Popen | None]:
    """Network namespace with the two taps and the peer. Returns (ok, why, peer)."""
    if os.geteuid() != 0:
        return False, "not root (network namespace and tap need root)", None
    if not Path("/dev/net/tun").exists():
        return False, "/dev/net/tun missing", None
    if not shutil.which("ip"):
        return False, "iproute2 'ip' not found", None
    subprocess.run(["ip", "netns", "del", NETNS], capture_output=True)
    cmds = [["ip", "netns", "add", NETNS],
            ["ip", "netns", "exec", NETNS, "ip", "link", "set", "lo", "up"]]
    for tap, host_ip, _ in TAPS.values():
        cmds += [["ip", "netns", "exec", NETNS, "ip", "tuntap", "add", "dev", tap, "mode", "tap"],
                 ["ip", "netns", "exec", NETNS, "ip", "addr", "add", f"{host_ip}/24", "dev", tap],
                 ["ip", "netns", "exec", NETNS, "ip", "link", "set", tap, "up"]]
    for c in cmds:
        p = subprocess.run(c, capture_output=True, text=True)
        if p.returncode != 0:
            return False, f"{' '.join(c)}: {p.stderr.strip()}", None
    peer = subprocess.Popen(["ip", "netns", "exec", NETNS, "nice", str(host_tool), "peer", "--port", str(PORT)],
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    return True, "", peer


def teardown_netns(peer: subprocess.Popen | None) -> None:
    if peer is not None:
        peer.terminate()
        try:
            peer.wait(5)
        except subprocess.TimeoutExpired:
            peer.kill()
    subprocess.run(["ip", "netns", "del", NETNS], capture_output=True)


# ---------------------------------------------------------------- configurations

def configs(user_kernel: str | None) -> dict[str, dict]:
    c = {
        "nommu": dict(machine="calgary,chips=0", place="pc", base=None),
        "bypass": dict(machine="calgary,tce-cache=faithful", place="calgary", base="nommu"),
        "premap-off": dict(machine="calgary,tce-cache=off", place="calgary", premap=True, base="nommu"),
        "premap-coherent": dict(machine="calgary,tce-cache=coherent", place="calgary", premap=True, base="nommu"),
        "premap-faithful": dict(machine="calgary,tce-cache=faithful", place="calgary", premap=True, base="nommu"),
        "q35": dict(machine="q35", place="q35", base=None),
        "intel-lazy": dict(machine="q35", place="q35", intel=True, append="intel_iommu=on iommu.strict=0", base="q35"),
        "intel-strict": dict(machine="q35", place="q35", intel=True, append="intel_iommu=on iommu.strict=1", base="q35"),
    }
    if user_kernel:
        c["user-nommu"] = dict(machine="calgary,chips=0", place="pc", kernel=user_kernel, append="iommu=off", base=None)
        c["user-calgary"] = dict(machine="calgary,tce-cache=faithful", place="calgary", kernel=user_kernel,
                                 append="iommu=calgary", base="user-nommu")
        c["user-calgary-line8"] = dict(machine="calgary,tce-cache=faithful,tce-cache-line=8", place="calgary",
                                       kernel=user_kernel, append="iommu=calgary", base="user-nommu")
        c["user-q35"] = dict(machine="q35", place="q35", kernel=user_kernel, append="intel_iommu=off", base=None)
        c["user-intel-lazy"] = dict(machine="q35", place="q35", intel=True, kernel=user_kernel,
                                    append="intel_iommu=on iommu.strict=0", base="user-q35")
    return c


def device_args(place: str, net: bool, blk: bool) -> list[str]:
    bus = {"pc": {}, "q35": {},
           "calgary": {"e1000": "calgary0.1", "virtio": "calgary0.2", "nvme": "calgary0.3"}}[place]

    def where(dev: str) -> str:
        return f",bus={bus[dev]},addr=1" if dev in bus else ""

    a = []
    if net:
        a += ["-netdev", f"tap,id=ne,ifname={TAPS['e1000'][0]},script=no,downscript=no",
              "-device", f"e1000,netdev=ne{where('e1000')}",
              "-netdev", f"tap,id=nv,ifname={TAPS['virtio'][0]},script=no,downscript=no",
              "-device", f"virtio-net-pci,netdev=nv,iommu_platform=on,disable-legacy=on{where('virtio')}"]
    if blk:
        a += ["-drive", "driver=null-co,id=d0,if=none,size=8G,read-zeroes=on",
              "-device", f"nvme,drive=d0,serial=cbench{where('nvme')}"]
    return a


# ---------------------------------------------------------------- one boot

class Boot:
    def __init__(self, name: str, cfg: dict, a: argparse.Namespace, guest: dict, initrd: Path,
                 jobs: list[tuple], net: bool, outdir: Path, progress, trace: Path | None = None,
                 plugin: str | None = None):
        self.name, self.cfg, self.a, self.guest, self.initrd = name, cfg, a, guest, initrd
        self.jobs, self.net, self.outdir, self.progress, self.trace = jobs, net, outdir, progress, trace
        self.plugin = plugin
        self.results: list[dict] = []
        self.stats: dict[str, dict] = {}
        self.console: list[str] = []
        self.error = ""

    def run(self) -> None:
        tmp = Path(tempfile.mkdtemp(prefix="cbench-"))
        qmp_path = str(tmp / "qmp.sock")
        kernel = self.cfg.get("kernel") or self.guest["KERNEL"]
        blk = any(j[1] == "blk" for j in self.jobs)
        append = (f"console=ttyS0 rdinit=/bench-init loglevel=3 nokaslr iomem=relaxed {RESERVED} panic=-1 "
                  f"bench.nics={2 if self.net else 0} bench.blk={1 if blk else 0} "
                  f"bench.premap={1 if self.cfg.get('premap') else 0} {self.cfg.get('append', '')}").strip()
        cmd = [str(self.a.qemu), "-machine", self.cfg["machine"], "-accel", self.a.accel, "-m", str(MEM_MB),
               "-smp", "1", "-nographic", "-no-reboot", "-no-shutdown", "-nodefaults", "-serial", "stdio",
               *FIRMWARE, "-kernel", kernel, "-initrd", str(self.initrd), "-append", append,
               "-qmp", f"unix:{qmp_path},server=on,wait=off"]
        if self.cfg.get("intel"):
            cmd += ["-device", "intel-iommu,intremap=off"]
        cmd += device_args(self.cfg["place"], self.net, blk)
        if self.trace:
            cmd += ["-trace", "calgary_translate", "-trace", "calgary_flush", "-D", str(self.trace)]
        if self.plugin:
            cmd += ["-plugin", self.plugin]
        if self.net:
            cmd = ["ip", "netns", "exec", NETNS] + cmd
        cmd = ["nice", "-n", "5"] + cmd
        (self.outdir / f"cmd-{self.name}.txt").write_text(" ".join(cmd) + "\n")
        proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL)
        pid = proc.pid
        cur: dict | None = None
        done = threading.Event()
        lines: list[tuple[float, str]] = []
        lock = threading.Condition()

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
        timeout = 120 + sum(int(j[5]) + 15 for j in self.jobs)
        deadline = time.monotonic() + timeout
        idx = 0
        finished = False
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
                if s.startswith("BENCH-START "):
                    jid = s.split()[1]
                    cur = {"id": jid, "t0": t, "h0": host_cpu_ticks(pid)}
                    self.progress(self.name, jid)
                elif s.startswith("BENCH-RESULT ") and cur is not None:
                    kv = dict(x.split("=", 1) for x in s.split()[1:] if "=" in x)
                    cur["t1"], cur["h1"] = t, host_cpu_ticks(pid)
                    cur.update(kv)
                elif s.startswith("BENCH-END ") and cur is not None:
                    if "mbps" in cur:
                        wall = cur["t1"] - cur["t0"]
                        cur["host_cpu"] = (cur["h1"] - cur["h0"]) / os.sysconf("SC_CLK_TCK") / max(wall, 1e-3)
                        self.results.append(cur)
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
        if finished:
            try:
                q = Qmp(qmp_path, timeout=5)
                for p in range(4):
                    path = f"/machine/calgary0/phb{p}"
                    row = {}
                    for prop in STAT_PROPS:
                        r = q.cmd("qom-get", path=path, property=prop)
                        if "return" in r:
                            row[prop.replace("stat-", "")] = r["return"]
                    if row:
                        self.stats[f"calgary0.{p}"] = row
                q.cmd("quit")
                q.close()
            except (OSError, ConnectionError, ValueError):
                pass
        else:
            self.error += f"guest did not finish within {timeout}s; "
        try:
            proc.wait(10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
        (self.outdir / f"console-{self.name}.log").write_text("\n".join(self.console) + "\n")
        shutil.rmtree(tmp, ignore_errors=True)


# ---------------------------------------------------------------- instruction counts (plugin)

IOMMU_SYMS = [
    # Calgary (Linux <= 5.6)
    "calgary_map_page", "calgary_unmap_page", "calgary_map_sg", "calgary_unmap_sg", "iommu_free",
    "tce_build", "tce_free", "calgary_tce_cache_blast", "calioc2_tce_cache_blast",
    # intel-iommu (5.4)
    "intel_map_page", "intel_unmap_page", "intel_map_sg", "intel_unmap_sg", "intel_unmap", "__intel_map_single",
    "domain_mapping", "alloc_iova_fast", "free_iova_fast", "queue_iova", "iommu_flush_iova", "qi_submit_sync",
    "iommu_flush_iotlb_psi", "dma_pte_clear_range",
    # no IOMMU
    "dma_direct_map_page", "dma_direct_map_sg",
]


def count_insns(a, allc, guest, make_initrd, jobs, net_ok, outdir, progress, user_kernel) -> list[str]:
    smap = os.environ.get("CALGARY_GUEST_SYSTEM_MAP") or str(Path(user_kernel).with_name("System.map"))
    lib = REPO / "target" / "release" / "libcalgary_plugin.so"
    subprocess.run(["nice", "cargo", "build", "-q", "--release", "-p", "calgary-plugin"], cwd=REPO)
    if a.accel != "tcg" or not Path(smap).exists() or not lib.exists():
        return ["## Guest instructions in IOMMU functions", "",
                f"- not measured: needs TCG, the plugin ({lib}) and {smap}", ""]
    tjobs = [j for j in jobs if j[0].endswith("-r0")]
    initrd = make_initrd("insns", tjobs)
    rows = []
    for n in [c for c in ("user-nommu", "user-calgary", "user-q35", "user-intel-lazy") if c in allc]:
        out = outdir / f"insns-{n}.json"
        plugin = f"{lib},out={out},map={smap},syms={':'.join(IOMMU_SYMS)}"
        b = Boot(f"insns-{n}", allc[n], a, guest, initrd, tjobs, net_ok, outdir, progress, plugin=plugin)
        b.run()
        try:
            d = json.loads(out.read_text())
        except (OSError, ValueError):
            rows.append(f"| {n} | (no plugin output) | | | |")
            continue
        io = sum(r["insns"] for r in d["ranges"] if not r["name"].startswith("dma_direct"))
        direct = sum(r["insns"] for r in d["ranges"] if r["name"].startswith("dma_direct"))
        calls = sum(r["calls"] for r in d["ranges"] if r["name"].endswith(("map_page", "map_sg")) and "unmap" not in r["name"])
        nbytes = sum(int(r.get("bytes", 0)) for r in b.results)
        top = sorted((r for r in d["ranges"] if r["insns"]), key=lambda r: -r["insns"])[:4]
        rows.append(f"| {n} | {d['kernel']:,} | {io + direct:,} ({(io + direct) / max(d['kernel'], 1) * 100:.2f}%) | "
                    f"{calls:,} | {(io + direct) / max(nbytes / 1e6, 1e-9):,.0f} | "
                    + ", ".join(f"{r['name']} {r['insns']:,}" for r in top) + " |")
    return ["## Guest instructions in DMA-mapping functions (TCG plugin, one boot each, all workloads once)", "",
            "| config | kernel insns | in map/unmap/flush fns | map calls | insns per MB moved | top functions |",
            "|---|---|---|---|---|---|"] + rows + [""]


# ---------------------------------------------------------------- report

def med_spread(vals: list[float]) -> tuple[float, float, float]:
    if not vals:
        return float("nan"), float("nan"), float("nan")
    return statistics.median(vals), min(vals), max(vals)


def fmt_size(n: int) -> str:
    return f"{n // 1024}K" if n >= 1024 and n % 1024 == 0 else str(n)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--quick", action="store_true", help="CI size: 4 configs, few workloads, 1 rep (~1-2 min)")
    ap.add_argument("--out", type=Path)
    ap.add_argument("--reps", type=int)
    ap.add_argument("--secs", type=int)
    ap.add_argument("--configs", help="comma list (default: all that apply)")
    ap.add_argument("--sizes", help="network message sizes, comma list")
    ap.add_argument("--trace", action="store_true", help="also record a translation trace and replay it")
    ap.add_argument("--workloads", help="only jobs whose id starts with one of these, e.g. blk,net-virtio")
    ap.add_argument("--keep-trace", action="store_true", help="keep the (large) trace log of --trace")
    ap.add_argument("--insns", action="store_true",
                    help="count guest instructions in IOMMU map/unmap functions (TCG plugin, user kernel)")
    ap.add_argument("--qemu", type=Path, default=Path(os.environ.get("CALGARY_QEMU", DEFAULT_QEMU)))
    ap.add_argument("--accel", default="tcg")
    a = ap.parse_args()

    # CALGARY_GUEST_KERNEL may list several kernels (A:B) for the kernel matrix; the benchmark uses the first.
    user_kernel = (os.environ.get("CALGARY_GUEST_KERNEL") or "").split(":")[0] or None
    allc = configs(user_kernel)
    if a.quick:
        names = ["nommu", "premap-faithful", "q35", "intel-lazy"]
        sizes = [64, 65536]
        blk_sizes = [512 * 1024]
        nics = ["virtio"]
        modes = ["stream", "rr"]
        reps, secs = a.reps or 1, a.secs or 2
    else:
        names = list(allc)
        sizes = [64, 256, 1024, 4096, 16384, 65536]
        blk_sizes = [4096, 65536, 512 * 1024]
        nics = ["virtio", "e1000"]
        modes = ["stream", "rr"]
        reps, secs = a.reps or 3, a.secs or 1
    if a.sizes:
        sizes = [int(x) for x in a.sizes.split(",")]
    if a.configs:
        names = [n for n in a.configs.split(",")]
        unknown = [n for n in names if n not in allc]
        if unknown:
            log(f"bench: unknown configuration(s) {unknown}; known: {list(allc)}")
            return 2
    # every ratio needs its baseline
    for n in list(names):
        b = allc[n]["base"]
        if b and b not in names:
            if a.quick and b == "q35":
                allc[n]["base"] = "nommu"
            else:
                names.insert(0, b)
    names = list(dict.fromkeys(names))

    if not a.qemu.exists():
        log(f"bench: QEMU binary {a.qemu} not found (./calgary setup builds it)")
        return 3
    stamp = time.strftime("%Y%m%d-%H%M%S")
    outdir = a.out or (HERE / "results" / stamp)
    outdir.mkdir(parents=True, exist_ok=True)
    log("bench: building the guest workload binary and the host tools, assembling the guest ...")
    try:
        tool = build_tool()
        host_tool = build_host_tool()
        guest = assemble_guest()
    except (RuntimeError, subprocess.TimeoutExpired) as e:
        log(f"bench: cannot prepare the guest: {e}")
        return 3
    net_ok, net_why, peer = setup_netns(host_tool)
    if not net_ok:
        log(f"bench: network workloads skipped: {net_why}")

    jobs: list[tuple] = []
    for rep in range(reps):
        if net_ok:
            for nic in nics:
                for mode in modes:
                    # e1000 (emulated, slow) on a subset of the sizes in the full sweep
                    for s in (sizes if nic == "virtio" or a.quick or a.sizes else [x for x in sizes if x in (64, 1024, 65536)]):
                        jobs.append((f"net-{nic}-{mode}-{s}-r{rep}", "net", nic, mode, s, secs))
        for s in blk_sizes:
            jobs.append((f"blk-nvme-read-{s}-r{rep}", "blk", "nvme", "read", s, secs))
    if a.workloads:
        pre = tuple(a.workloads.split(","))
        jobs = [j for j in jobs if j[0].startswith(pre)]
        if not jobs:
            log(f"bench: --workloads {a.workloads} selects no job")
            return 2
    base_initrd = Path(guest["INITRD"]).read_bytes()
    tool_bytes = tool.read_bytes()

    def make_initrd(name: str, js: list[tuple]) -> Path:
        jobtext = "".join(" ".join(str(x) for x in j) + "\n" for j in js)
        init = cpio_archive({"bench-init": (0o755, BENCH_INIT.encode()),
                             "bench-jobs": (0o644, jobtext.encode()),
                             "bin/calgary-bench": (0o755, tool_bytes)})
        path = outdir / f"initrd-{name}.img"
        with open(path, "wb") as f:
            f.write(base_initrd)
            # Linux looks for a following cpio only at 4-byte aligned offsets
            # (zeros in between are skipped).
            f.write(b"\0" * (-len(base_initrd) % 512))
            f.write(init)
        return path

    initrd_for = {rep: make_initrd(f"r{rep}", [j for j in jobs if j[0].endswith(f"-r{rep}")]) for rep in range(reps)}

    per_job = secs + 0.6  # connect + teardown + console latency
    boot_s = 8
    est = len(names) * reps * boot_s + len(names) * len(jobs) * per_job + (60 if a.trace else 0)
    log(f"bench: {len(names)} configurations x {len(jobs)} runs ({reps} reps, {secs}s each): "
        f"about {est / 60:.1f} min total; output in {outdir}")
    t_start = time.monotonic()
    total_runs = len(names) * len(jobs)
    state = {"n": 0}

    def progress(cfg: str, jid: str) -> None:
        state["n"] += 1
        el = time.monotonic() - t_start
        eta = el / state["n"] * (total_runs - state["n"]) if state["n"] else 0
        sys.stderr.write(f"\r[{state['n']:3d}/{total_runs}] {cfg:16s} {jid:34s} elapsed {el:5.0f}s  eta {eta:4.0f}s ")
        sys.stderr.flush()

    boots: dict[str, list[Boot]] = {n: [] for n in names}
    # Interleaved: each repetition boots every configuration once, so slow
    # phases of a shared host spread over all configurations alike.
    try:
        for rep in range(reps):
            rjobs = [j for j in jobs if j[0].endswith(f"-r{rep}")]
            for n in names:
                b = Boot(f"{n}-r{rep}", allc[n], a, guest, initrd_for[rep], rjobs, net_ok, outdir, progress)
                b.cfgname = n
                b.run()
                boots[n].append(b)
                if b.error:
                    log(f"\nbench: {n} rep {rep}: {b.error}")
        trace_note = ""
        if a.trace:
            tr = outdir / "trace-premap.log"
            # a short, representative slice: the log grows by ~80 bytes per DMA page
            tjobs = [(j[0], j[1], j[2], j[3], j[4], 1) for j in jobs if j[0].endswith("-r0")
                     and j[4] in (64, 1024, 4096, 65536, 524288)]
            initrd_trace = make_initrd("trace", tjobs)
            cfgname = "user-calgary" if user_kernel else "premap-faithful"
            b = Boot(f"trace-{cfgname}", allc[cfgname], a, guest, initrd_trace, tjobs, net_ok, outdir, progress, trace=tr)
            b.run()
            p = subprocess.run(["nice", str(host_tool), "replay", "--trace", str(tr), "--out", str(outdir / "replay")],
                               capture_output=True, text=True)
            (outdir / "replay.txt").write_text(p.stdout + p.stderr)
            trace_note = "\n".join(l for l in p.stdout.splitlines() if l.startswith(("workload:", "verdict:")))
            if not a.keep_trace:
                tr.unlink(missing_ok=True)  # large
        insns_md: list[str] = []
        if a.insns and user_kernel:
            insns_md = count_insns(a, allc, guest, make_initrd, jobs, net_ok, outdir, progress, user_kernel)
    finally:
        teardown_netns(peer)
    sys.stderr.write("\n")

    # ------------------------------------------------------------ aggregate
    raw_rows = []
    agg: dict[tuple, dict] = {}
    for n, bl in boots.items():
        for b in bl:
            for r in b.results:
                base_id = r["id"].rsplit("-r", 1)[0]
                kind, nic, mode, size = base_id.split("-")[0], base_id.split("-")[1], base_id.split("-")[2], int(base_id.split("-")[3])
                tput = float(r.get("mbps", "nan"))
                gcpu = float(r.get("cpu", "nan"))
                hcpu = float(r.get("host_cpu", "nan"))
                raw_rows.append(dict(config=n, workload=f"{kind}-{nic}-{mode}", size=size, rep=r["id"].rsplit("-r", 1)[1],
                                     mbps=tput, tps=float(r.get("tps", "nan")), guest_cpu=gcpu, host_cpu=hcpu))
                d = agg.setdefault((n, f"{kind}-{nic}-{mode}", size), {"mbps": [], "gcpu": [], "hcpu": []})
                d["mbps"].append(tput)
                d["gcpu"].append(gcpu)
                d["hcpu"].append(hcpu)
    with open(outdir / "raw.csv", "w", newline="") as f:
        w = csv.DictWriter(f, fieldnames=["config", "workload", "size", "rep", "mbps", "tps", "guest_cpu", "host_cpu"])
        w.writeheader()
        w.writerows(raw_rows)
    summary = []
    workloads = sorted({(k[1], k[2]) for k in agg})
    for (n, wl, size), d in sorted(agg.items()):
        m, lo, hi = med_spread(d["mbps"])
        gm = med_spread(d["gcpu"])[0]
        hm = med_spread(d["hcpu"])[0]
        base = allc[n]["base"]
        bd = agg.get((base, wl, size)) if base else None
        if bd:
            bm = med_spread(bd["mbps"])[0]
            r_t = m / bm if bm else float("nan")
            r_g = gm / med_spread(bd["gcpu"])[0] if med_spread(bd["gcpu"])[0] else float("nan")
            # host CPU per unit of work, relative to the baseline
            bh = med_spread(bd["hcpu"])[0]
            r_h = (hm / m) / (bh / bm) if bh and bm and m else float("nan")
        else:
            r_t = r_g = r_h = 1.0 if not base else float("nan")
        summary.append(dict(config=n, base=base or "", workload=wl, size=size, mbps_median=round(m, 3),
                            mbps_min=round(lo, 3), mbps_max=round(hi, 3), spread_pct=round((hi - lo) / m * 100, 1) if m else "",
                            guest_cpu=round(gm, 4), host_cpu=round(hm, 4), tput_ratio=round(r_t, 4),
                            guest_cpu_ratio=round(r_g, 4), host_cpu_per_byte_ratio=round(r_h, 4)))
    with open(outdir / "summary.csv", "w", newline="") as f:
        w = csv.DictWriter(f, fieldnames=list(summary[0].keys()) if summary else ["config"])
        w.writeheader()
        w.writerows(summary)

    # ------------------------------------------------------------ markdown
    md = [f"# Calgary benchmark ({'quick' if a.quick else 'full'}), {stamp}", "",
          f"Accelerator `{a.accel}`, guest `{Path(guest['KERNEL']).name}`"
          + (f", user kernel `{user_kernel}`" if user_kernel else "") + f", -m {MEM_MB}M, 1 vCPU; "
          f"{reps} repetition(s) of {secs}s per cell (median; spread = (max-min)/median).", ""]
    if not net_ok:
        md += [f"Network workloads skipped: {net_why}.", ""]
    md += ["Cells: throughput ratio / guest-CPU ratio / host-CPU-per-byte ratio, each vs the "
           "configuration's no-IOMMU baseline (nommu, q35 or user-nommu). Baselines show absolute Mbit/s.", ""]
    for wl, _ in sorted({(w, 0) for w, _ in workloads}):
        sizes_w = sorted({s for (w, s) in workloads if w == wl})
        md.append(f"## {wl}")
        md.append("")
        md.append("| config | " + " | ".join(fmt_size(s) for s in sizes_w) + " |")
        md.append("|---|" + "---|" * len(sizes_w))
        for n in names:
            cells = []
            for s in sizes_w:
                row = next((r for r in summary if r["config"] == n and r["workload"] == wl and r["size"] == s), None)
                if row is None:
                    cells.append("–")
                elif not row["base"]:
                    cells.append(f"{row['mbps_median']:.1f} Mb/s ±{row['spread_pct']}%")
                else:
                    cells.append(f"{row['tput_ratio']:.3f} / {row['guest_cpu_ratio']:.2f} / {row['host_cpu_per_byte_ratio']:.2f}")
            md.append(f"| {n} | " + " | ".join(cells) + " |")
        md.append("")
    # goals
    goals = []

    def ratios(cfg: str, wl_prefix: str, cond) -> list[tuple[str, int, float]]:
        return [(r["workload"], r["size"], r["tput_ratio"]) for r in summary
                if r["config"] == cfg and r["workload"].startswith(wl_prefix) and cond(r["size"])]

    pm = ratios("premap-faithful", "net", lambda s: s >= 1024)
    if pm:
        worst = min(pm, key=lambda x: x[2])
        goals.append(f"- Calgary pre-mapped (faithful) vs no IOMMU, >= 1 KiB messages: worst {worst[2]:.3f} "
                     f"({worst[0]} {fmt_size(worst[1])}); goal >= 0.97: {'MET' if worst[2] >= 0.97 else 'NOT met'}")
    pm64 = ratios("premap-faithful", "net", lambda s: s == 64)
    if pm64:
        worst = min(pm64, key=lambda x: x[2])
        goals.append(f"- Calgary pre-mapped vs no IOMMU at 64 B: worst {worst[2]:.3f} ({worst[0]}); goal >= 0.90: "
                     f"{'MET' if worst[2] >= 0.90 else 'NOT met'}")
    uc = ratios("user-calgary", "blk", lambda s: s == 512 * 1024)
    if uc:
        goals.append(f"- Calgary-capable kernel doing map/unmap, nvme 512K O_DIRECT: {uc[0][2]:.3f} of no-IOMMU; "
                     f"goal >= 0.95: {'MET' if uc[0][2] >= 0.95 else 'NOT met'}")
    elif not user_kernel:
        goals.append("- Calgary-capable kernel goal: not measured (set CALGARY_GUEST_KERNEL)")
    pairs_to_check = [("premap-faithful", "intel-lazy")]
    if user_kernel:
        pairs_to_check.append(("user-calgary", "user-intel-lazy" if boots.get("user-intel-lazy") else "intel-lazy"))
    for cal, intel in pairs_to_check:
        if not boots.get(cal) or not boots.get(intel):
            continue
        pairs = []
        for r in summary:
            if r["config"] != cal:
                continue
            ir = next((x for x in summary if x["config"] == intel and x["workload"] == r["workload"]
                       and x["size"] == r["size"]), None)
            if ir:
                pairs.append((r["workload"], r["size"], 1 - r["tput_ratio"], 1 - ir["tput_ratio"]))
        if pairs:
            bad = [p for p in pairs if p[2] > max(p[3], 0) / 2 and p[2] > 0.01]
            goals.append(f"- {cal} overhead <= half of {intel} overhead on every workload ({len(pairs)} cells; "
                         f"overheads under 1% count as met): "
                         + ("MET" if not bad else f"NOT met on {len(bad)}: " + ", ".join(
                             f"{w} {fmt_size(s)} ({o1:.3f} vs {o2:.3f})" for w, s, o1, o2 in bad[:8])))
    md += ["## Goals", ""] + (goals or ["- (no data)"]) + [""]
    if a.insns:
        md += insns_md or ["## Guest instructions in IOMMU functions", "", "- not measured (needs CALGARY_GUEST_KERNEL, its System.map and TCG)", ""]
    if a.trace and trace_note:
        md += ["## TCE-cache design space (replay of a recorded run)", "", "```", trace_note, "```",
               "", "Full table: replay/replay.csv, plot: replay/replay-hitrate.png", ""]
    # PHB stats
    st = []
    for n, bl in boots.items():
        for b in bl:
            for phb, row in b.stats.items():
                if row.get("translations"):
                    st.append(f"{b.name:18s} {phb:11s} " + " ".join(f"{k}={v}" for k, v in row.items()))
    (outdir / "phb-stats.txt").write_text("\n".join(st) + "\n")
    if st:
        md += ["## Calgary per-PHB statistics (QMP, end of each run)", "", "```"] + st + ["```", ""]
    md += [f"Wall time: {(time.monotonic() - t_start) / 60:.1f} min.", ""]
    (outdir / "results.md").write_text("\n".join(md))

    # ------------------------------------------------------------ plots
    for wl, _ in sorted({(w, 0) for w, _ in workloads}):
        p = subprocess.run([str(host_tool), "plot", "--csv", str(outdir / "summary.csv"), "--x", "size",
                            "--y", "tput_ratio", "--series", "config", "--where", f"workload={wl}", "--log2x",
                            "--ymin", "0", "--ymax", "1.2", "--hline", "1:no IOMMU",
                            "--title", f"{wl}: throughput vs no IOMMU",
                            "--xlabel", "message / request size (bytes)", "--ylabel", "throughput ratio",
                             "--out", str(outdir / f"{wl}.png")], capture_output=True, text=True)
        if p.returncode != 0:
            log(f"bench: plot of {wl} failed: {p.stderr.strip()}")
    print("\n".join(md))
    print(f"\nbench: results in {outdir}")
    failed = [n for n, bl in boots.items() if not any(b.results for b in bl)]
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
