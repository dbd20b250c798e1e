#!/usr/bin/env python3
"""Live migration under load: a kernel with its own Calgary driver keeps a
virtio-blk disk and two NICs busy while the machine is live-migrated to a
second QEMU (and back), and every round's data is checked across the switch.

Usage:
  migrate_load.py [--kernel PATH]... [--variant calgary|calioc2]...
                  [--migrations N] [--rounds-before N] [--rounds-after N]
                  [--module PATH.ko]... [--qemu PATH] [--log FILE]

Kernels come from --kernel or CALGARY_GUEST_KERNEL (colon-separated); the
kernel needs virtio 1.0 with VIRTIO_F_IOMMU_PLATFORM (4.x on) and a
virtio-blk driver: built in, or a virtio_blk.ko built for that kernel given
with --module or CALGARY_GUEST_MODULES (colon-separated; a module goes to
the kernel whose version its vermagic names, appended to the initramfs).

The machine (TCG): `calgary,chips=1,variant=V,tce-cache=faithful`, -m 512M;
virtio-blk-pci (disable-legacy=on, iommu_platform=on) on calgary0.1 with a
raw host file, e1000 on calgary0.2 and virtio-net-pci (iommu_platform=on)
on calgary0.3, each NIC on its own user-mode network. The guest
(calgary-guest suite=migrate) runs rounds: 1 MiB O_DIRECT write + read-back
+ compare on the disk, and ICMP echoes with patterned 1400-byte payloads on
both NICs, each reply compared (slirp answers them itself; a request lost
at the switch is resent, a wrong payload is an error).

The runner waits for --rounds-before rounds, starts a destination QEMU with
the same command line and `-incoming defer`, and migrates over a unix
socket right after a round began (so the switch falls inside a round); it
waits for completion, quits the source, and waits for --rounds-after rounds
on the destination; --migrations 2 migrates back again (ping-pong). Checks:
the guest's own verdict (no round with an error), a round that began on the
source and ended on the destination, rounds after every switch, the
PHBs' statistics equal on both sides of a switch (they migrate) and growing
after it on the PHB of the disk and of each NIC, nothing blocked, no error
latched in a PHB's CSR, and the disk's backing file holding every slot's
last round pattern. Prints `PASS|FAIL|SKIP name — reason` lines and one
line per migration (time, downtime, bytes); exits 1 on any FAIL.
Python 3.11 stdlib.
"""

from __future__ import annotations

import argparse
import gzip
import os
import re
import shutil
import subprocess
import sys
import tempfile
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # hw-tests: the shared QMP client
sys.path.insert(0, str(Path(__file__).resolve().parent))
import kernels  # noqa: E402
from guestcommon import (DEFAULT_QEMU, FIRMWARE, STAT_PROPS, Check, assemble, base_append,  # noqa: E402
                         disk_pattern, log, newc)
from qmp import Qmp  # noqa: E402

MIGRATE_SEED = 0x4D160000  # calgary-guest suite_migrate::MIGRATE_SEED and round_seed()


def round_seed(seq: int) -> int:
    return (MIGRATE_SEED + seq * 0x9E3779B9) & 0xFFFFFFFF
DISK_BASE, ROUND_LEN, SLOTS = 1 << 20, 1 << 20, 32
DISK_SIZE = 64 << 20
MEM = "512M"
TABLE = "64k"  # 8192 TCEs: 32 MiB of IO space, so the driver's allocator wraps and flushes during the rounds
NETS = "e1000@10.0.2,virtio@10.0.3"
# device role -> PHB (QOM name under /machine/calgary0)
ROLE_PHB = {"virtio-blk": "phb1", "e1000": "phb2", "virtio-net": "phb3"}
CSR_ERROR = 0x80000000
ROUND_RE = re.compile(r"CALGARY-ROUND (begin|end) seq=(\d+)(.*)")
ACPI_WORKAROUND = ["-global", "PIIX4_PM.acpi-pci-hotplug-with-bridge-support=off",
                   "-global", "PIIX4_PM.acpi-root-pci-hotplug=off"]


@dataclass
class Round:
    seq: int
    begin_on: str = ""
    end_on: str = ""
    result: str = ""


@dataclass
class Migration:
    src: str
    dst: str
    begun_in: int
    status: str = ""
    total_ms: int = 0
    downtime_ms: int = 0
    setup_ms: int = 0
    bytes: int = 0
    error: str = ""


@dataclass
class RunLog:
    """The console as both QEMUs print it, with rounds attributed to the
    QEMU whose serial port printed them."""
    lines: list[tuple[str, str]] = field(default_factory=list)
    rounds: dict[int, Round] = field(default_factory=dict)
    cond: threading.Condition = field(default_factory=threading.Condition)
    done: bool = False

    def add(self, side: str, line: str) -> None:
        with self.cond:
            self.lines.append((side, line))
            m = ROUND_RE.search(line)
            if m:
                seq = int(m.group(2))
                r = self.rounds.setdefault(seq, Round(seq))
                if m.group(1) == "begin":
                    r.begin_on = side
                else:
                    r.end_on, r.result = side, m.group(3).strip()
            if line.startswith("CALGARY-DONE") or "Kernel panic" in line:
                self.done = True
            self.cond.notify_all()

    def wait(self, pred, timeout: float) -> bool:
        with self.cond:
            return self.cond.wait_for(lambda: pred() or self.done, timeout) and pred()

    def ends_on(self, side: str) -> int:
        return sum(1 for r in self.rounds.values() if r.end_on == side)

    def last_begin(self) -> int:
        return max((r.seq for r in self.rounds.values() if r.begin_on), default=-1)


class Qemu:
    """One QEMU process: console on stdio (read by a thread into the run
    log), QMP on a unix socket."""

    def __init__(self, name: str, cmd: list[str], tmp: Path, runlog: RunLog, logf):
        self.name = name
        self.qmp_path = str(tmp / f"qmp-{name}.sock")
        self.stderr_path = tmp / f"stderr-{name}.txt"
        full = cmd + ["-qmp", f"unix:{self.qmp_path},server=on,wait=off"]
        if logf:
            logf.write(f"\n===== {name}: {' '.join(full)}\n")
        self.proc = subprocess.Popen(full, stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                     stderr=open(self.stderr_path, "w"))
        self.runlog = runlog
        self.logf = logf
        self.thread = threading.Thread(target=self._read, daemon=True)
        self.thread.start()
        self._qmp: Qmp | None = None

    def _read(self) -> None:
        assert self.proc.stdout is not None
        for raw in self.proc.stdout:
            line = raw.decode("utf-8", "replace").rstrip("\r\n")
            if self.logf:
                self.logf.write(f"[{self.name}] {line}\n")
            self.runlog.add(self.name, line)

    @property
    def qmp(self) -> Qmp:
        if self._qmp is None:
            self._qmp = Qmp(self.qmp_path, timeout=30)
        return self._qmp

    def send(self, text: str) -> None:
        try:
            assert self.proc.stdin is not None
            self.proc.stdin.write(text.encode() + b"\n")
            self.proc.stdin.flush()
        except OSError:
            pass

    def stderr(self) -> str:
        return self.stderr_path.read_text(errors="replace").strip() if self.stderr_path.exists() else ""

    def quit(self) -> None:
        if self.proc.poll() is None:
            try:
                self.qmp.cmd("quit")
            except (OSError, ConnectionError, ValueError):
                pass
        if self._qmp is not None:
            self._qmp.close()
            self._qmp = None
        try:
            self.proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
        self.thread.join(timeout=5)


def read_stats(q: Qemu) -> dict[str, dict[str, int]]:
    out: dict[str, dict[str, int]] = {}
    for p in range(4):
        row = {}
        for prop in STAT_PROPS + ["csr"]:
            v = q.qmp.cmd("qom-get", path=f"/machine/calgary0/phb{p}", property=prop).get("return")
            if isinstance(v, int):
                row[prop] = v
        out[f"phb{p}"] = row
    return out


def has_virtio_blk(path: str) -> bool | None:
    """Whether the image has virtio-blk built in (its driver name is in
    the decompressed payload); None when the payload cannot be read."""
    try:
        p = kernels._payload(Path(path).read_bytes())
    except (OSError, ValueError, EOFError):
        return None
    return None if p is None else b"virtio_blk" in p[1]


def vermagic(ko: Path) -> str:
    m = re.search(rb"vermagic=([^\0]*)", ko.read_bytes())
    return m.group(1).decode(errors="replace") if m else ""


def initrd_with_modules(base: str, kver: str, modules: list[Path], out: Path) -> str:
    """The base initramfs plus an archive with lib/modules/<kver>/ holding
    the modules and the list calgary-guest loads them from."""
    if not modules:
        return base
    d = f"lib/modules/{kver}"
    entries = [("lib", 0o040755, b""), ("lib/modules", 0o040755, b""), (d, 0o040755, b"")]
    entries += [(f"{d}/{m.name}", 0o100644, m.read_bytes()) for m in modules]
    entries.append((f"{d}/calgary-modules.list", 0o100644, "".join(f"{m.name}\n" for m in modules).encode()))
    out.write_bytes(Path(base).read_bytes() + gzip.compress(newc(entries), compresslevel=1, mtime=0))
    return str(out)


# Counters the destination itself may advance while it loads, before cont:
# virtio's load reads each queue's ring indices through the IOMMU (3 DMA
# reads per queue: 1 virtio-blk queue, 3 virtio-net queues).
LOAD_DMA = ("stat-translations", "stat-cache-hits", "stat-cache-misses", "stat-tce-fetches")
LOAD_DMA_MAX = 16


def stats_compare(src: dict[str, dict[str, int]], dst: dict[str, dict[str, int]]) -> tuple[list[str], list[str]]:
    """(differences, translations the destination made while loading)."""
    diff, loaded = [], []
    for p, row in src.items():
        for k in STAT_PROPS + ["csr"]:
            a, b = row.get(k), dst.get(p, {}).get(k)
            if k in LOAD_DMA and a is not None and b is not None and 0 <= b - a <= LOAD_DMA_MAX:
                if b > a and k == "stat-translations":
                    loaded.append(f"{b - a} on {p}")
            elif a != b:
                diff.append(f"{p}.{k}: source {a}, destination {b}")
    return diff, loaded


def stats_line(s: dict[str, dict[str, int]]) -> str:
    return ", ".join(f"{phb} t={row.get('stat-translations', '?')} b={row.get('stat-blocked', '?')} "
                     f"f={row.get('stat-flushes', '?')}" + (f" CSR={row['csr']:#010x}" if row.get("csr") else "")
                     for phb, row in s.items())


class Case:
    """One kernel on one variant: boot, migrate (N times), check."""

    def __init__(self, args: argparse.Namespace, env: dict[str, str], k: kernels.KernelImage, variant: str,
                 modules: list[Path], tmp: Path, logf):
        self.args, self.env, self.k, self.variant = args, env, k, variant
        self.name = f"migrate:{k.label}/{variant}"
        self.tmp = tmp / re.sub(r"[^\w.-]", "_", f"{k.label}-{variant}")
        self.tmp.mkdir()
        self.modules = modules
        self.logf = logf
        self.checks: list[Check] = []
        self.migrations: list[Migration] = []
        self.runlog = RunLog()
        self.seconds = 0.0

    def check(self, ok: bool | None, name: str, reason: str) -> None:
        st = "SKIP" if ok is None else "PASS" if ok else "FAIL"
        self.checks.append(Check(st, f"{self.name}:{name}", reason))

    def command(self) -> list[str]:
        a = self.args
        disk = self.tmp / "disk.raw"
        initrd = initrd_with_modules(self.env["INITRD"], self.k.version_string.split()[0] if self.k.version_string
                                     else self.k.label, self.modules, self.tmp / "initrd.gz")
        pl = kernels.plan(self.k)
        machine = f"calgary,chips=1,variant={self.variant},tce-cache={a.cache}"
        machine += "".join(f",{p}={v}" for p, v in pl.machine)
        append = base_append(f"loglevel=4 {' '.join(pl.append)} iommu=calgary calgary={TABLE} calgary.suite=migrate "
                             f"calgary.sync=1 calgary.net={NETS} calgary.disk_slots={SLOTS} calgary.disk_mib=1 "
                             f"calgary.max_secs={int(a.timeout)}")
        return [a.qemu, *FIRMWARE, "-machine", machine, "-m", MEM, "-smp", "1", "-accel", "tcg",
                "-display", "none", "-serial", "stdio", "-monitor", "none", "-no-reboot", "-no-shutdown",
                "-drive", f"file={disk},if=none,id=d0,format=raw",
                "-device", "virtio-blk-pci,bus=calgary0.1,addr=1,drive=d0,disable-legacy=on,iommu_platform=on",
                "-netdev", "user,id=n0,net=10.0.2.0/24,restrict=on",
                "-device", "e1000,bus=calgary0.2,addr=1,netdev=n0",
                "-netdev", "user,id=n1,net=10.0.3.0/24,restrict=on",
                "-device", "virtio-net-pci,bus=calgary0.3,addr=1,netdev=n1,iommu_platform=on,disable-legacy=on",
                "-kernel", self.k.path, "-initrd", initrd, "-append", append, *self.workaround]

    def start(self, name: str, incoming: bool) -> Qemu:
        cmd = self.command() + (["-incoming", "defer", "-S"] if incoming else [])
        q = Qemu(name, cmd, self.tmp, self.runlog, self.logf)
        return q

    def run(self) -> None:
        t0 = time.monotonic()
        self.workaround: list[str] = []
        with open(self.tmp / "disk.raw", "wb") as f:
            f.truncate(DISK_SIZE)
        live = self.start("A", incoming=False)
        others: list[Qemu] = [live]
        try:
            time.sleep(2)
            if live.proc.poll() is not None and not self.runlog.lines:
                # QEMU's DSDT builder and PHB root buses (see qemuboot.Runner.boot)
                self.workaround = ACPI_WORKAROUND
                live = self.start("A", incoming=False)
                others.append(live)
            self._run(live, others)
        finally:
            for q in others:
                q.quit()
            self.seconds = time.monotonic() - t0

    def guest_failed_early(self, q: Qemu) -> str:
        fails = [l for _, l in self.runlog.lines if l.startswith("CALGARY-CHECK ") and " FAIL " in l]
        if fails:
            return "; ".join(fails)
        if q.proc.poll() is not None:
            return f"QEMU {q.name} exited with {q.proc.returncode}: {q.stderr()[-800:]}"
        return ""

    def _run(self, live: Qemu, others: list[Qemu]) -> None:
        a = self.args
        rl = self.runlog
        if not rl.wait(lambda: rl.ends_on(live.name) >= a.rounds_before, a.timeout):
            tail = "\n".join("      | " + l for _, l in rl.lines[-25:])
            self.check(False, "rounds-before", f"{rl.ends_on(live.name)} of {a.rounds_before} rounds on the source "
                       f"within {a.timeout:.0f}s; {self.guest_failed_early(live)}\n    last console lines:\n{tail}")
            return
        self.check(True, "rounds-before", f"{rl.ends_on(live.name)} rounds verified on QEMU {live.name} before the "
                   f"first migration")
        sock = str(self.tmp / "migrate.sock")
        names = "BCDEFGH"
        first_stats = read_stats(live)
        for i in range(a.migrations):
            dst = self.start(names[i], incoming=True)
            others.append(dst)
            try:
                r = dst.qmp.cmd("migrate-incoming", uri=f"unix:{sock}")
                if "error" in r:
                    raise RuntimeError(f"migrate-incoming: {r['error']}")
                live.qmp.cmd("migrate-set-parameters", **{"max-bandwidth": 1 << 30})
                # Right after a round began: the switch falls inside a round.
                seen = rl.last_begin()
                rl.wait(lambda: rl.last_begin() > seen, 60)
                mig = Migration(live.name, dst.name, rl.last_begin())
                r = live.qmp.cmd("migrate", uri=f"unix:{sock}")
                if "error" in r:
                    raise RuntimeError(f"migrate: {r['error']}")
                deadline = time.monotonic() + 600
                st: dict = {}
                while time.monotonic() < deadline:
                    st = live.qmp.cmd("query-migrate").get("return", {})
                    if st.get("status") in ("completed", "failed", "cancelled"):
                        break
                    time.sleep(0.2)
                mig.status = st.get("status", "?")
                mig.total_ms = st.get("total-time", 0)
                mig.downtime_ms = st.get("downtime", 0)
                mig.setup_ms = st.get("setup-time", 0)
                mig.bytes = st.get("ram", {}).get("transferred", 0)
                mig.error = st.get("error-desc", "")
                self.migrations.append(mig)
            except (OSError, ConnectionError, ValueError, RuntimeError) as e:
                self.check(False, f"migration-{i + 1}", f"{e}; destination stderr: {dst.stderr()[-800:]}")
                return
            if mig.status != "completed":
                self.check(False, f"migration-{i + 1}", f"{live.name}->{dst.name} {mig.status}: {mig.error}; "
                           f"destination stderr: {dst.stderr()[-800:]}")
                return
            # The destination waits (-S) until its PHB counters were
            # compared with the source's final ones: they are migrated state.
            deadline = time.monotonic() + 60
            while time.monotonic() < deadline:
                if dst.qmp.cmd("query-status").get("return", {}).get("status") != "inmigrate":
                    break
                time.sleep(0.1)
            src_stats = read_stats(live)
            dst_stats = read_stats(dst)
            diff, loaded = stats_compare(src_stats, dst_stats)
            self.check(not diff, f"stats-migrated-{i + 1}",
                       f"every PHB counter and CSR arrived ({stats_line(src_stats)}); before cont the destination "
                       f"translated {', '.join(loaded) or 'nothing'} (virtio reloading its rings' indices through "
                       f"the IOMMU)" if not diff else "differ: " + "; ".join(diff))
            if a.fault and i == 0:
                phb, _, kv = a.fault.partition(":")
                prop, _, val = kv.partition("=")
                r = dst.qmp.cmd("qom-set", path=f"/machine/calgary0/{phb}", property=prop, value=int(val, 0))
                log(f"migrate: self-check fault {a.fault} on {dst.name}: {r}")
            r = dst.qmp.cmd("cont")
            if "error" in r:
                self.check(False, f"migration-{i + 1}", f"cont on {dst.name}: {r['error']}")
                return
            self.check(True, f"migration-{i + 1}",
                       f"QEMU {live.name} -> {dst.name} started during round {mig.begun_in}: total "
                       f"{mig.total_ms} ms, downtime {mig.downtime_ms} ms, {mig.bytes} bytes of RAM")
            live.quit()
            live = dst
            base = rl.ends_on(live.name)
            ok = rl.wait(lambda: rl.ends_on(live.name) >= base + a.rounds_after, a.timeout)
            after = read_stats(live)
            why = ""
            if not ok:
                tail = "\n".join("      | " + l for side, l in rl.lines[-15:] if side == live.name)
                why = (f"; {self.guest_failed_early(live)} counters now: {stats_line(after)}"
                       f"\n    last console lines of {live.name}:\n{tail}")
            self.check(ok, f"rounds-after-{i + 1}", f"{rl.ends_on(live.name)} rounds ended on QEMU {live.name} "
                       f"(wanted {a.rounds_after} after the switch){why}")
            grew = []
            for role, phb in ROLE_PHB.items():
                t0, t1 = dst_stats[phb].get("stat-translations"), after[phb].get("stat-translations")
                grew.append((role, phb, t0, t1))
            self.check(all(t0 is not None and t1 is not None and t1 > t0 for _, _, t0, t1 in grew),
                       f"translations-after-{i + 1}",
                       "; ".join(f"{role} on {phb}: {t0} -> {t1}" for role, phb, t0, t1 in grew))
            if not ok:
                return
        # Straddling rounds: begun on one QEMU, ended on the next.
        straddle = [f"round {r.seq} ({r.begin_on}->{r.end_on})" for r in rl.rounds.values()
                    if r.begin_on and r.end_on and r.begin_on != r.end_on]
        self.check(len(straddle) >= a.migrations, "mid-round-switch",
                   f"{', '.join(straddle) or 'no round'} began before a switch and ended after it, verified")
        live.send("calgary-stop")
        rl.wait(lambda: rl.done, 120)
        final = read_stats(live)
        f0, f1 = first_stats["phb1"].get("stat-flushes", 0), final["phb1"].get("stat-flushes", 0)
        self.check(True if f1 > f0 else None, "flushes-during-rounds",
                   f"the driver flushed phb1's TCE cache {f1 - f0} times while the rounds ran across the switches "
                   f"(its allocator wrapped in the {TABLE} table)" if f1 > f0 else
                   f"phb1 flushes {f0} -> {f1}: the allocator did not wrap in {len(rl.rounds)} rounds")
        bad = [f"{phb}: blocked {row.get('stat-blocked')}, CSR {row.get('csr', 0):#010x}"
               for phb, row in final.items()
               if row.get("stat-blocked", 1) != 0 or row.get("csr", 0) & CSR_ERROR]
        self.check(not bad, "no-blocked-dma",
                   f"all PHBs: 0 blocked, no CSR error ({stats_line(final)}; before the first switch: "
                   f"{stats_line(first_stats)})" if not bad else "; ".join(bad))
        for side, l in rl.lines:
            if l.startswith("CALGARY-CHECK "):
                parts = l.split(" ", 3)
                if len(parts) >= 3:
                    self.checks.append(Check(parts[2], f"{self.name}:{parts[1]}",
                                             (parts[3] if len(parts) > 3 else "") + f" [QEMU {side}]"))
        if not any(l.startswith("CALGARY-DONE") for _, l in rl.lines):
            self.check(False, "done", "no CALGARY-DONE from the guest after calgary-stop")
        bad_rounds = [f"{r.seq}: {r.result}" for r in rl.rounds.values() if r.end_on and "FAIL" in r.result]
        self.check(not bad_rounds, "round-results",
                   f"{sum(1 for r in rl.rounds.values() if r.end_on)} round results seen, none failed"
                   if not bad_rounds else "; ".join(bad_rounds[:5]))
        live.quit()
        self.verify_disk()

    def verify_disk(self) -> None:
        """Every slot holds the pattern of the last round that wrote it."""
        last: dict[int, int] = {}
        for r in self.runlog.rounds.values():
            if r.end_on and "disk=ok" in r.result:
                slot = r.seq % SLOTS
                last[slot] = max(last.get(slot, -1), r.seq)
        bad = []
        with open(self.tmp / "disk.raw", "rb") as f:
            for slot, seq in sorted(last.items()):
                f.seek(DISK_BASE + slot * ROUND_LEN)
                if f.read(ROUND_LEN) != disk_pattern(round_seed(seq), ROUND_LEN):
                    bad.append(f"slot {slot} (round {seq})")
        self.check(bool(last) and not bad, "disk-host-verify",
                   f"backing file holds the last round's pattern in {len(last)} slots" if last and not bad
                   else f"wrong data in {', '.join(bad)}" if bad else "no round wrote the disk")


def summary(c: Case) -> list[str]:
    rl = c.runlog
    out = []
    sides = []
    for _, side in [(0, "A")] + [(0, m.dst) for m in c.migrations]:
        sides.append(f"{side}:{rl.ends_on(side)}")
    out.append(f"# {c.name}: {len(rl.rounds)} rounds (ended per QEMU: {' '.join(sides)}) in {c.seconds:.0f}s, "
               f"accelerator tcg")
    for m in c.migrations:
        out.append(f"#   {m.src}->{m.dst}: {m.status}, started during round {m.begun_in}, total {m.total_ms} ms "
                   f"(setup {m.setup_ms} ms), downtime {m.downtime_ms} ms, RAM {m.bytes / 1048576:.1f} MiB")
    return out


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--kernel", action="append", default=None,
                    help="a kernel image with the Calgary driver (default: CALGARY_GUEST_KERNEL)")
    ap.add_argument("--variant", action="append", choices=["calgary", "calioc2"], default=None)
    ap.add_argument("--module", action="append", default=None,
                    help="a kernel module for the guest (e.g. virtio_blk.ko); default CALGARY_GUEST_MODULES")
    ap.add_argument("--migrations", type=int, default=2, help="2: there and back (ping-pong)")
    ap.add_argument("--rounds-before", type=int, default=5)
    ap.add_argument("--rounds-after", type=int, default=10)
    ap.add_argument("--cache", choices=["off", "coherent", "faithful"], default="faithful")
    ap.add_argument("--qemu", default=os.environ.get("CALGARY_QEMU", str(DEFAULT_QEMU)))
    ap.add_argument("--timeout", type=float, default=400, help="seconds to wait for each phase's rounds")
    ap.add_argument("--log", default=None, help="append both QEMUs' consoles here")
    ap.add_argument("--fault", default="", metavar="PHB:PROP=N",
                    help="self-check of the checks: arm a fault injection on the first destination before it "
                         "continues (e.g. phb1:inject-tce-fetch-fail=1); the run must then FAIL")
    args = ap.parse_args(argv)
    paths = kernels.kernel_list(args.kernel, os.environ.get("CALGARY_GUEST_KERNEL"))
    mods = [Path(p) for p in (args.module or os.environ.get("CALGARY_GUEST_MODULES", "").split(":")) if p]
    variants = args.variant or ["calgary", "calioc2"]
    checks: list[Check] = []
    cases: list[Case] = []
    t0 = time.monotonic()
    if not paths:
        print("SKIP migrate — no --kernel / CALGARY_GUEST_KERNEL given (a kernel with its own Calgary driver)")
        print("# 0 passed, 0 failed, 1 skipped")
        return 0
    if not Path(args.qemu).exists():
        print(f"FAIL qemu — {args.qemu} not found (build QEMU first)")
        return 1
    try:
        env = assemble()
    except (RuntimeError, subprocess.TimeoutExpired) as e:
        print(f"FAIL assemble — {e}")
        return 1
    tmp = Path(tempfile.mkdtemp(prefix="calgary-migload-"))
    logf = open(args.log, "a", buffering=1) if args.log else None
    try:
        for path in paths:
            k = kernels.identify(path)
            pl = kernels.plan(k)
            kver = k.version_string.split()[0] if k.version_string else ""
            kmods = [m for m in mods if kver and vermagic(m).split()[:1] == [kver]]
            for v in variants:
                name = f"migrate:{k.label}/{v}"
                if not pl.calgary[0]:
                    checks.append(Check("FAIL", name, pl.calgary[1]))
                    continue
                if v == "calioc2" and not pl.calioc2[0]:
                    checks.append(Check("SKIP", name, pl.calioc2[1]))
                    continue
                if not pl.virtio_required:
                    checks.append(Check("SKIP", name, "virtio-blk and virtio-net with iommu_platform need "
                                        "VIRTIO_F_IOMMU_PLATFORM, which this kernel lacks"))
                    continue
                if not kmods and has_virtio_blk(path) is False:
                    checks.append(Check("SKIP", name, "the kernel has no virtio-blk driver built in and no "
                                        "virtio_blk.ko for it was given (--module / CALGARY_GUEST_MODULES); QEMU's "
                                        "nvme cannot migrate, so the disk under load is virtio-blk"))
                    continue
                log(f"migrate: {name} ({len(kmods)} extra modules: {' '.join(m.name for m in kmods) or 'none'})")
                c = Case(args, env, k, v, kmods, tmp, logf)
                c.run()
                cases.append(c)
                checks.extend(c.checks)
    finally:
        if logf:
            logf.close()
        shutil.rmtree(tmp, ignore_errors=True)
    print(f"# Calgary live migration under load — qemu {args.qemu}, accelerator tcg, -m {MEM}, "
          f"tce-cache={args.cache}, {args.migrations} migration(s) per case")
    for c in checks:
        print(f"{c.status} {c.name} — {c.reason}")
    for c in cases:
        print("\n".join(summary(c)))
    nfail = sum(c.status == "FAIL" for c in checks)
    npass = sum(c.status == "PASS" for c in checks)
    nskip = sum(c.status == "SKIP" for c in checks)
    print(f"# {npass} passed, {nfail} failed, {nskip} skipped in {time.monotonic() - t0:.0f}s")
    return 1 if nfail else 0


if __name__ == "__main__":
    sys.exit(main())
