#!/usr/bin/env python3
"""Boot Linux guests on the emulated Calgary machine and validate them.

Usage:
  boot.py [--kernel PATH]... [--variant calgary|calioc2|iommu-off]...
          [--cache off|coherent|faithful] [--qemu PATH] [--timeout S] [--log FILE]
          [--suite default|kernel|all|inject] [--no-inject] [--machine auto|calgary|pc]
          [--accel auto|kvm|tcg] [--chips N] [--no-kdump]

Default suite: Debian's bookworm kernel (no Calgary driver) with the initramfs
from guest-images/build-initramfs.sh; the in-guest tool (rust/calgary-guest)
plays the driver from user space (edu DMA checks, identity pre-map for
e1000 / virtio-net / nvme).

Kernel matrix (--kernel A --kernel B ..., or CALGARY_GUEST_KERNEL=A:B): every
kernel is identified from its image (version string from the boot header,
features from its decompressed payload; see kernels.py) and booted once per
variant (calgary, and calioc2 where the kernel knows CalIOC2) with its own
Calgary driver, on `-m 1536M` (not a power of two), `chips=2`, and
`calgary=64k` so that the IO space wraps and the driver flushes the TCE
cache. One boot per cell checks: detection and translation on every
populated PHB of both chips, e1000 / virtio-net / nvme DMA through
translation, `calgary=disable=0x30` (an e1000 on chip 1's PHB 0 works
untranslated), the wrap and the flush it forces (the PHB's `stat-flushes`
read over QMP before and after), an errant DMA caught by the watchdog, and on
the calgary variant kdump: kexec -p of the same kernel, a crash, and the
capture kernel reusing the TCE tables from TAR with working disk and NIC.
Machine properties a kernel era needs (kernels.py ERA_RULES) are passed;
when this QEMU lacks one, that cell is reported as unsupported, not passed.

Fault injection (--suite inject, and after the matrix with kernel/all unless
--no-inject; inject_checks.py): one more boot per kernel and variant in which
the runner injects faults over QMP at the guest's sync points and checks the
driver's own reaction (watchdog dump with the injected CSR/PLSSR, "not
quiesced", the SoftStopFault retry, a failed TCE fetch) in the console.

Prints one line per check, `PASS|FAIL|SKIP name — reason`, the matrix
(kernel × variant × check), per-PHB statistics; exits 1 if any check failed.
Python 3.11 stdlib.
"""

from __future__ import annotations

import argparse
import gzip
import hashlib
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

REPO = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(REPO / "hw-tests"))
sys.path.insert(0, str(Path(__file__).resolve().parent))
from qmp import Qmp  # noqa: E402  (shared QMP client)
import kernels  # noqa: E402
import inject_checks  # noqa: E402

DEFAULT_QEMU = REPO / "build" / "qemu-system-x86_64"
ASSEMBLE = REPO / "guest-images" / "build-initramfs.sh"
FIRMWARE = ["-L", "/usr/share/seabios", "-L", "/usr/lib/ipxe/qemu", "-L", "/usr/share/qemu"]
RESERVED = "memmap=64M$0x10000000"  # passed literally: no shell involved
STAT_PROPS = [
    "stat-translations", "stat-cache-hits", "stat-cache-misses", "stat-stale-hits",
    "stat-tce-fetches", "stat-flushes", "stat-blocked", "stat-bypassed", "stat-window",
]
BLOB_SIZE = 512 * 1024
DISK_SEED = 24301  # keep in sync with calgary-guest's default (0x5EED)
DISK_OFF, DISK_LEN = 1 << 20, 4 << 20
CAPTURE_DISK_SEED, CAPTURE_DISK_OFF = DISK_SEED + 1, 8 << 20  # calgary-guest capture_cmdline()

# ---------------------------------------------------------------- matrix setup
MATRIX_MEM = "1536M"      # not a power of two: 2.6.18-3.10 size the table from RAM
MATRIX_CHIPS = 2
MATRIX_TABLE = "64k"      # 8192 TCEs, 32 MiB of IO space: the allocator wraps
MATRIX_DISABLE_BUS = 0x30  # chip 1 PHB 0
# Where each device sits in a matrix boot and which PHB carries its DMA.
#   role, device, bus, PHB (QOM name), bus number
MATRIX_DEVICES = [
    ("edu", "edu", "calgary0.0", "calgary0.0", 0x20),
    ("e1000", "e1000", "calgary0.1", "calgary0.1", 0x24),
    ("virtio", "virtio-net-pci", "calgary0.2", "calgary0.2", 0x28),
    ("e1000-disabled", "e1000", "calgary1.0", "calgary1.0", 0x30),
    ("nvme", "nvme", "calgary1.1", "calgary1.1", 0x34),
]
ROLE_PHB = {role: phb for role, _, _, phb, _ in MATRIX_DEVICES}
MATRIX_COLUMNS = ["boot", "detect", "enable", "e1000", "virtio", "nvme", "disable",
                  "wrap+flush", "errant", "health", "kdump", "other"]


@dataclass
class Check:
    status: str
    name: str
    reason: str


@dataclass
class BootSpec:
    name: str
    kernel: str
    append: str
    initrd: str
    machine: str
    devices: list[str]
    timeout: float
    mem: str = "512M"
    chips: int = 1
    accel: str | None = None
    probe: bool = False
    silent_timeout: float = 0.0
    kdump: bool = False
    stats: bool = True
    # on_sync(tag, qmp, boot): called at every guest sync point (after the
    # counters were read, before the ack) and with tag "end" at the last
    # QMP look; inject_checks.py arms its faults there.
    on_sync: object = None


@dataclass
class Boot:
    name: str
    checks: list[Check] = field(default_factory=list)
    lines: list[str] = field(default_factory=list)
    stats: dict[str, dict[str, str]] = field(default_factory=dict)
    snapshots: dict[str, dict[str, dict[str, str]]] = field(default_factory=dict)
    seconds: float = 0.0
    userspace_at: float | None = None
    returncode: int | None = None
    stderr: str = ""
    unsupported: str = ""
    kdump_pending: bool = False
    crash_at: float | None = None
    capture_banner: bool = False
    capture_at: float | None = None
    capture_done: bool = False

    def guest(self, check: str) -> Check | None:
        return next((c for c in self.checks if c.name == f"{self.name}:{check}"), None)

    def passed(self, check: str) -> bool:
        c = self.guest(check)
        return c is not None and c.status == "PASS"


def log(msg: str) -> None:
    print(msg, file=sys.stderr, flush=True)


# ----------------------------------------------------------------- helpers
def disk_pattern(seed: int, length: int) -> bytes:
    period = bytes(((i * 2654435761 + seed) & 0xFFFFFFFF) >> 24 for i in range(65536))
    return (period * (length // 65536 + 1))[:length]


def make_blob() -> bytes:
    out = bytearray()
    h = b"calgary"
    while len(out) < BLOB_SIZE:
        h = hashlib.sha256(h).digest()
        out += h
    return bytes(out[:BLOB_SIZE])


def newc(entries: list[tuple[str, int, bytes]]) -> bytes:
    """A newc cpio archive of (name, mode, data) entries."""
    out = bytearray()
    for ino, (name, mode, data) in enumerate(entries + [("TRAILER!!!", 0, b"")], start=1):
        nb = name.encode() + b"\0"
        fields = (ino, mode, 0, 0, 1, 0, len(data), 0, 0, 0, 0, len(nb), 0)
        out += b"070701" + "".join(f"{x:08x}" for x in fields).encode() + nb
        out += b"\0" * (-len(out) % 4)
        out += data
        out += b"\0" * (-len(out) % 4)
    return bytes(out)


def assemble() -> dict[str, str]:
    t0 = time.monotonic()
    p = subprocess.run(["bash", str(ASSEMBLE), "--quiet"], capture_output=True, text=True, timeout=1800)
    if p.returncode != 0:
        raise RuntimeError(f"guest-images/build-initramfs.sh failed:\n{p.stderr[-3000:]}")
    env = dict(l.split("=", 1) for l in p.stdout.splitlines() if "=" in l)
    env["_seconds"] = f"{time.monotonic() - t0:.1f}"
    return env


def qemu_out(qemu: str, *args: str) -> str:
    try:
        p = subprocess.run([qemu, *args], capture_output=True, text=True, timeout=30)
        return p.stdout + p.stderr
    except (OSError, subprocess.TimeoutExpired):
        return ""


def machine_properties(qemu: str) -> set[str]:
    """Property names of the calgary machine (`-machine calgary,help`)."""
    out = qemu_out(qemu, "-machine", "calgary,help")
    return {m.group(1) for m in re.finditer(r"^\s+([\w-]+)=", out, re.M)}


UNSUPPORTED_RE = [
    re.compile(r"Property '[\w.-]*?\.?([\w-]+)' not found"),
    re.compile(r"[Ii]nvalid parameter '([\w-]+)'"),
    re.compile(r"calgary: invalid ([\w-]+)"),
]


class Runner:
    def __init__(self, args: argparse.Namespace, env: dict[str, str]):
        self.args = args
        self.env = env
        self.qemu = args.qemu
        self.tmp = Path(tempfile.mkdtemp(prefix="calgary-guest-"))
        (self.tmp / "tftp").mkdir()
        blob = make_blob()
        (self.tmp / "tftp" / "blob.bin").write_bytes(blob)
        self.blob_md5 = hashlib.md5(blob).hexdigest()
        self.logf = open(args.log, "a", buffering=1) if args.log else None
        self.accel = "tcg"
        self.accel_reason = ""
        self.calgary = False
        self.props: set[str] = set()
        # Extra QEMU arguments that work around a known machine bug; set when
        # a plain start crashed (reported once as a FAIL).
        self.workaround: list[str] = []
        self.machine_checks: list[Check] = []

    def close(self) -> None:
        if self.logf:
            self.logf.close()
        shutil.rmtree(self.tmp, ignore_errors=True)

    # ------------------------------------------------------------- machines
    def default_machine(self, devices: bool) -> tuple[str, list[str]]:
        a = self.args
        if self.calgary:
            m = f"calgary,chips={a.chips}"
            if a.variant and a.variant[0] in ("calgary", "calioc2"):
                m += f",variant={a.variant[0]}"
            if a.cache:
                m += f",tce-cache={a.cache}"
            bus = {i: f"calgary0.{i}" for i in range(4)}
            addr = {i: "1" for i in range(4)}
        else:
            m = "pc"
            bus = {i: "pci.0" for i in range(4)}
            addr = {0: "5", 1: "6", 2: "7", 3: "8"}
        if not devices:
            return m, []
        tftp = str(self.tmp / "tftp")
        return m, [
            "-device", f"edu,bus={bus[0]},addr={addr[0]},dma_mask=0xffffffff",
            "-netdev", f"user,id=n0,net=10.0.2.0/24,restrict=on,tftp={tftp}",
            "-device", f"e1000,bus={bus[1]},addr={addr[1]},netdev=n0",
            "-netdev", f"user,id=n1,net=10.0.3.0/24,restrict=on,tftp={tftp}",
            "-device", f"virtio-net-pci,bus={bus[2]},addr={addr[2]},netdev=n1,iommu_platform=on,disable-legacy=on",
            "-drive", f"file={self.tmp / 'disk.raw'},if=none,id=d0,format=raw",
            "-device", f"nvme,bus={bus[3]},addr={addr[3]},drive=d0,serial=calgary",
        ]

    def matrix_devices(self) -> list[str]:
        tftp = str(self.tmp / "tftp")
        out: list[str] = []
        nic = 0
        for role, dev, bus, _, _ in MATRIX_DEVICES:
            if dev == "edu":
                out += ["-device", f"edu,bus={bus},addr=1,dma_mask=0xffffffff"]
            elif dev in ("e1000", "virtio-net-pci"):
                out += ["-netdev", f"user,id=n{nic},net=10.0.{2 + nic}.0/24,restrict=on,tftp={tftp}"]
                extra = ",iommu_platform=on,disable-legacy=on" if dev == "virtio-net-pci" else ""
                out += ["-device", f"{dev},bus={bus},addr=1,netdev=n{nic}{extra}"]
                nic += 1
            elif dev == "nvme":
                out += ["-drive", f"file={self.tmp / 'disk.raw'},if=none,id=d0,format=raw",
                        "-device", f"nvme,bus={bus},addr=1,drive=d0,serial=calgary"]
        return out

    # ------------------------------------------------------------- one boot
    def boot(self, spec: BootSpec) -> Boot:
        b = self._boot(spec)
        crashed = (b.returncode is not None and b.returncode < 0 and not b.lines)
        if crashed and self.calgary and not self.workaround:
            # Known bug: QEMU's DSDT builder (build_append_notfication_callback)
            # dereferences parent_dev of every child bus of bus 0; the Calgary
            # PHB root buses have none, so ACPI PCI hotplug crashes the start.
            self.workaround = ["-global", "PIIX4_PM.acpi-pci-hotplug-with-bridge-support=off",
                               "-global", "PIIX4_PM.acpi-root-pci-hotplug=off"]
            retry = self._boot(spec)
            if retry.lines:
                self.machine_checks.append(Check(
                    "FAIL", "machine-start",
                    f"QEMU died with signal {-b.returncode} before any console output; it starts with "
                    "ACPI PCI hotplug off (-global PIIX4_PM.acpi-pci-hotplug-with-bridge-support=off "
                    "-global PIIX4_PM.acpi-root-pci-hotplug=off), so this is the DSDT builder's "
                    "build_append_notfication_callback dereferencing the NULL parent_dev of a Calgary "
                    "root bus; the remaining boots use that workaround"))
                return retry
            self.workaround = []
        return b

    def _boot(self, spec: BootSpec) -> Boot:
        name = spec.name
        b = Boot(name)
        accel = spec.accel or self.accel
        disk = self.tmp / "disk.raw"
        with open(disk, "wb") as f:
            f.truncate(16 << 20)
        tag = re.sub(r"[^\w.-]", "_", name)
        qmp_path = str(self.tmp / f"qmp-{tag}.sock")
        stderr_path = self.tmp / f"stderr-{tag}.txt"
        cmd = [self.qemu, *FIRMWARE, "-machine", spec.machine, *spec.devices, "-m", spec.mem, "-smp", "1",
               "-accel", accel, "-display", "none", "-serial", "stdio", "-monitor", "none",
               "-no-reboot", "-no-shutdown", "-qmp", f"unix:{qmp_path},server=on,wait=off",
               "-kernel", spec.kernel, "-initrd", spec.initrd, "-append", spec.append]
        cmd += self.workaround
        if accel == "kvm":
            cmd += ["-cpu", "max"]
        if self.args.qemu_debug:
            cmd += ["-d", "guest_errors", "-D", str(self.tmp / f"qemu-{tag}.log")]
        if self.logf:
            self.logf.write(f"\n===== boot {name}: {' '.join(cmd)}\n")
        t0 = time.monotonic()
        try:
            proc = subprocess.Popen(cmd, stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                    stderr=open(stderr_path, "w"))
        except OSError as e:
            b.checks.append(Check("FAIL", f"{name}:boot", f"cannot start QEMU: {e}"))
            return b
        done = threading.Event()
        qmp_lock = threading.Lock()
        qmp_box: list[Qmp] = []

        def get_qmp() -> Qmp:
            if not qmp_box:
                qmp_box.append(Qmp(qmp_path))
            return qmp_box[0]

        def sync(tag: str) -> None:
            # The guest waits at a sync point until we have read the counters.
            try:
                with qmp_lock:
                    # A repeated announcement (the guest did not see our
                    # answer yet) keeps the first snapshot.
                    if tag not in b.snapshots:
                        b.snapshots[tag] = self.read_stats(get_qmp(), spec.chips)
                        if spec.on_sync:
                            spec.on_sync(tag, get_qmp(), b)
            except (OSError, ConnectionError, ValueError) as e:
                b.checks.append(Check("FAIL", f"{name}:qmp-sync-{tag}", f"QMP: {e}"))
            try:
                assert proc.stdin is not None
                proc.stdin.write(f"calgary-ack {tag}\n".encode())
                proc.stdin.flush()
            except OSError:
                pass

        def reader() -> None:
            assert proc.stdout is not None
            for raw in proc.stdout:
                line = raw.decode("utf-8", "replace").rstrip("\r\n")
                b.lines.append(line)
                now = time.monotonic() - t0
                if self.logf:
                    self.logf.write(line + "\n")
                if "CALGARY-INIT" in line:
                    if b.userspace_at is None:
                        b.userspace_at = now
                    elif b.kdump_pending and b.capture_at is None:
                        b.capture_at = now
                if "CALGARY-SYNC " in line:
                    # (found anywhere: a kernel message may share the console line)
                    words = line[line.index("CALGARY-SYNC "):].split()
                    sync(words[1] if len(words) > 1 else "")
                elif "CALGARY-KDUMP" in line:
                    b.crash_at = now
                elif b.crash_at is not None and "Linux version" in line:
                    b.capture_banner = True
                elif line.startswith("CALGARY-DONE"):
                    if "next=kdump" in line:
                        b.kdump_pending = True
                    else:
                        # Only a DONE after the capture kernel's own userspace line is its report.
                        b.capture_done = b.kdump_pending and b.capture_at is not None
                        done.set()
                elif line.startswith("CALGARY-PROBE") or "reboot: Power down" in line:
                    done.set()
                elif "Kernel panic" in line:
                    # The crash a kdump boot asks for is not the end; a
                    # panic of the capture kernel (after its banner) is.
                    if not (b.kdump_pending and not b.capture_banner):
                        time.sleep(0.5)
                        done.set()
            done.set()

        th = threading.Thread(target=reader, daemon=True)
        th.start()
        timeout = spec.timeout * (2 if spec.kdump else 1)
        try:
            finished = False
            while True:
                if done.wait(0.2):
                    finished = True
                    break
                el = time.monotonic() - t0
                if el > timeout or (spec.silent_timeout and el > spec.silent_timeout and not b.lines):
                    break
            if not finished and proc.poll() is None:
                proc.kill()
            try:
                proc.wait(timeout=0.5)
            except subprocess.TimeoutExpired:
                pass
            b.stderr = stderr_path.read_text(errors="replace").strip() if stderr_path.exists() else ""
            for rx in UNSUPPORTED_RE:
                m = rx.search(b.stderr)
                if m and not b.lines:
                    b.unsupported = f"machine lacks {m.group(1)} ({b.stderr.splitlines()[-1]})"
            tail = "\n".join("      | " + l for l in b.lines[-20:])
            got_done = any(l.startswith(("CALGARY-DONE", "CALGARY-PROBE")) for l in b.lines)
            first_panic = any("Kernel panic" in l for l in
                              (b.lines if not b.kdump_pending else b.lines[:self._crash_index(b)]))
            if b.unsupported:
                pass
            elif b.kdump_pending:
                # The first kernel finished its suite and loaded a capture
                # kernel; what follows the crash is judged on its own.
                b.checks.append(Check("PASS", f"{name}:boot",
                                      f"userspace after {b.userspace_at or 0:.1f}s, suite finished and crash "
                                      f"requested after {b.crash_at or 0:.1f}s ({accel})"))
                if b.capture_done:
                    b.checks.append(Check("PASS", f"{name}:kdump-capture-boot",
                                          f"crash at {b.crash_at or 0:.0f}s, capture kernel's userspace at "
                                          f"{b.capture_at or 0:.0f}s, its suite done at {time.monotonic() - t0:.0f}s"))
                else:
                    why = (f"timed out after {timeout:.0f}s" if not finished else
                           f"QEMU exited with status {proc.returncode}" if proc.poll() is not None else
                           "no capture kernel came up after the crash request" if not b.capture_banner else
                           "the capture kernel died before its userspace" if b.capture_at is None else
                           "the capture kernel panicked")
                    diag, kernel_bug = kdump_diagnosis(b)
                    # A capture kernel that faults reading the crashed
                    # kernel's table through an address it never mapped is
                    # a kernel defect the platform cannot change: the check
                    # could not be carried out (SKIP, shown as "kbug").
                    b.checks.append(Check("SKIP" if kernel_bug else "FAIL", f"{name}:kdump-capture-boot",
                                          f"{'kernel bug, not the platform: ' if kernel_bug else ''}{why} (crash at {b.crash_at or 0:.0f}s, capture kernel banner "
                                          f"{'seen' if b.capture_banner else 'not seen'}, its userspace "
                                          f"{'at %.0fs' % b.capture_at if b.capture_at else 'never'})"
                                          f"{'; ' + diag if diag else ''}; QEMU stderr: {b.stderr[-500:] or '(empty)'}"
                                          f"\n    last console lines:\n{tail}"))
            elif not finished or proc.poll() is not None and not got_done:
                reason = f"timed out after {timeout:.0f}s" if not finished else f"QEMU exited with status {proc.returncode}"
                b.checks.append(Check("FAIL", f"{name}:boot",
                                      f"{reason}; QEMU stderr: {b.stderr[-1500:] or '(empty)'}\n    last console lines:\n{tail}"))
            elif not spec.probe and first_panic:
                b.checks.append(Check("FAIL", f"{name}:boot", f"kernel panic\n{tail}"))
            elif not spec.probe:
                b.checks.append(Check("PASS", f"{name}:boot",
                                      f"userspace after {b.userspace_at or 0:.1f}s, suite finished after {time.monotonic() - t0:.1f}s ({accel})"))
            # Let the guest power off (-no-shutdown keeps QEMU for QMP).
            if proc.poll() is None and not b.unsupported and (finished or b.kdump_pending):
                try:
                    with qmp_lock:
                        qmp = get_qmp()
                        deadline = time.monotonic() + 20
                        while time.monotonic() < deadline:
                            st = qmp.cmd("query-status").get("return", {}).get("status")
                            if st in ("shutdown", "guest-panicked", "internal-error"):
                                break
                            time.sleep(0.2)
                        if spec.stats and not spec.probe:
                            b.stats = self.read_stats(qmp, spec.chips)
                        if spec.on_sync:
                            spec.on_sync("end", qmp, b)
                except (OSError, ConnectionError, ValueError) as e:
                    b.checks.append(Check("FAIL", f"{name}:qmp", f"QMP: {e}"))
        finally:
            with qmp_lock:
                if qmp_box:
                    try:
                        qmp_box[0].cmd("quit")
                    except (OSError, ConnectionError, ValueError):
                        pass
                    qmp_box[0].close()
            if proc.stdin:
                try:
                    proc.stdin.close()
                except OSError:
                    pass
            try:
                proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
            th.join(timeout=5)
            b.seconds = time.monotonic() - t0
            b.returncode = proc.returncode
        # Guest checks.
        for l in b.lines:
            if l.startswith("CALGARY-CHECK "):
                parts = l.split(" ", 3)
                if len(parts) >= 3:
                    b.checks.append(Check(parts[2], f"{name}:{parts[1]}", parts[3] if len(parts) > 3 else ""))
        if not spec.probe and b.passed("boot"):
            if not any(l.startswith("CALGARY-DONE") for l in b.lines):
                b.checks.append(Check("FAIL", f"{name}:done", "no CALGARY-DONE marker"))
        return b

    @staticmethod
    def _crash_index(b: Boot) -> int:
        return next((i for i, l in enumerate(b.lines) if "CALGARY-KDUMP" in l), len(b.lines))

    def verify_disk(self, b: Boot, check: str, seed: int, off: int, out: str) -> None:
        if not b.passed(check):
            return
        with open(self.tmp / "disk.raw", "rb") as f:
            f.seek(off)
            data = f.read(DISK_LEN)
        if data == disk_pattern(seed, DISK_LEN):
            b.checks.append(Check("PASS", f"{b.name}:{out}",
                                  f"backing file holds the guest's 4 MiB pattern at {off:#x} (md5 {hashlib.md5(data).hexdigest()})"))
        else:
            b.checks.append(Check("FAIL", f"{b.name}:{out}", f"backing file at {off:#x} does not hold the pattern the guest wrote"))

    def read_stats(self, qmp: Qmp, chips: int) -> dict[str, dict[str, str]]:
        stats: dict[str, dict[str, str]] = {}
        if not self.calgary:
            return stats
        for c in range(chips):
            for p in range(4):
                path = f"/machine/calgary{c}/phb{p}"
                row: dict[str, str] = {}
                for prop in STAT_PROPS + ["csr"]:
                    r = qmp.cmd("qom-get", path=path, property=prop)
                    v = r.get("return")
                    row[prop] = "n/a" if v is None else (f"{v:#010x}" if prop == "csr" else str(v))
                stats[f"calgary{c}.{p}"] = row
        return stats

    # ------------------------------------------------------------- accelerator
    def choose_accel(self, kernel: str) -> None:
        want = self.args.accel
        if want == "tcg":
            self.accel, self.accel_reason = "tcg", "requested"
            return
        if not os.access("/dev/kvm", os.R_OK | os.W_OK):
            self.accel, self.accel_reason = "tcg", "/dev/kvm not accessible"
            return
        t0 = time.monotonic()
        machine, devices = self.default_machine(False)
        b = self.boot(BootSpec("kvm-probe", kernel, "console=ttyS0 quiet panic=-1 calgary.suite=probe",
                               self.env["INITRD"], machine, devices, timeout=20, accel="kvm", probe=True,
                               silent_timeout=8, stats=False))
        ok = any(l.startswith("CALGARY-PROBE ok") for l in b.lines)
        secs = time.monotonic() - t0
        if ok:
            self.accel, self.accel_reason = "kvm", f"probe booted to userspace in {secs:.1f}s"
        else:
            msg = b.stderr.splitlines()[-1:]
            self.accel = "tcg"
            self.accel_reason = f"KVM probe failed within {secs:.0f}s ({msg[0] if msg else 'no userspace line'})"


def base_append(extra: str) -> str:
    return f"console=ttyS0 iomem=relaxed {RESERVED} panic=-1 {extra}".strip()


def num(stats: dict[str, dict[str, str]], phb: str, prop: str) -> int | None:
    v = stats.get(phb, {}).get(prop, "n/a")
    return int(v) if v.isdigit() else None


# ----------------------------------------------------------------- kernel matrix
@dataclass
class Cell:
    kernel: kernels.KernelImage
    label: str
    variant: str
    boot: Boot | None = None
    status: str = ""     # "" (booted), "n/a", "unsupported", "FAIL"
    reason: str = ""
    checks: list[Check] = field(default_factory=list)


def kdump_initrd(r: Runner, kernel: str, label: str) -> str:
    """The base initramfs plus an appended archive holding the capture
    kernel (the same image) and the initramfs it boots with."""
    safe = re.sub(r"[^\w.-]", "_", label)
    out = r.tmp / f"initrd-kdump-{safe}.gz"
    if not out.exists():
        base = Path(r.env["INITRD"]).read_bytes()
        extra = newc([("kdump", 0o040755, b""),
                      ("kdump/vmlinuz", 0o100644, Path(kernel).read_bytes()),
                      ("kdump/initrd.gz", 0o100644, base)])
        out.write_bytes(base + gzip.compress(extra, compresslevel=1, mtime=0))
    return str(out)


def matrix_cell(r: Runner, k: kernels.KernelImage, pl: kernels.Plan, label: str, variant: str,
                timeout: float) -> Cell:
    cell = Cell(k, label, variant)
    if not pl.calgary[0]:
        cell.status, cell.reason = "FAIL", pl.calgary[1]
        return cell
    if variant == "calioc2" and not pl.calioc2[0]:
        cell.status, cell.reason = "n/a", pl.calioc2[1]
        return cell
    missing = [f"{p}={v}" for p, v in pl.machine if p not in r.props]
    if missing:
        cell.status = "unsupported"
        cell.reason = f"unsupported: machine lacks {', '.join(missing)} ({'; '.join(pl.machine_why)})"
        return cell
    chip_variant = "calgary" if variant == "iommu-off" else variant
    machine = f"calgary,chips={MATRIX_CHIPS},variant={chip_variant},tce-cache={r.args.cache}"
    machine += "".join(f",{p}={v}" for p, v in pl.machine)
    optional = [n for n, req in (("virtio", pl.virtio_required), ("nvme", pl.nvme_required)) if not req]
    common = (f"loglevel=7 log_buf_len=1M {' '.join(pl.append)} calgary.suite=kernel calgary.cache={r.args.cache} "
              f"calgary.blob_md5={r.blob_md5} calgary.sync=1"
              + (f" calgary.optional={','.join(optional)}" if optional else ""))
    kdump = variant == "calgary" and pl.kdump[0] and not r.args.no_kdump
    if variant == "iommu-off":
        extra = "iommu=off calgary.expect=off"
    else:
        extra = (f"iommu=calgary calgary={MATRIX_TABLE},disable={MATRIX_DISABLE_BUS:#x} calgary.expect=translate "
                 f"calgary.disable={MATRIX_DISABLE_BUS:#x} calgary.wrap=1")
        if kdump:
            extra += f" {pl.crashkernel} calgary.kdump=1"
    initrd = kdump_initrd(r, k.path, label) if kdump else r.env["INITRD"]
    spec = BootSpec(f"{label}/{variant}", k.path, base_append(f"{common} {extra} {r.args.append}"), initrd, machine,
                    r.matrix_devices(), timeout, mem=MATRIX_MEM, chips=MATRIX_CHIPS, kdump=kdump)
    log(f"matrix: booting {spec.name} ({machine}, -m {MATRIX_MEM}{', kdump' if kdump else ''})")
    b = r.boot(spec)
    cell.boot = b
    if b.unsupported:
        cell.status, cell.reason = "unsupported", f"unsupported: {b.unsupported}"
        return cell
    r.verify_disk(b, "nvme-rw", DISK_SEED, DISK_OFF, "nvme-host-verify")
    r.verify_disk(b, "kdump-nvme-rw", CAPTURE_DISK_SEED, CAPTURE_DISK_OFF, "kdump-nvme-host-verify")
    apply_kernel_defects(b)
    cell_stat_checks(b, variant, kdump)
    if variant == "calgary" and not kdump:
        b.checks.append(Check("SKIP", f"{b.name}:kdump", "--no-kdump" if r.args.no_kdump else pl.kdump[1]))
    cell.checks = b.checks
    return cell


def cell_stat_checks(b: Boot, variant: str, kdump: bool) -> None:
    """Cross-check the guest's story with the device model's counters."""
    if variant == "iommu-off" or not b.passed("boot"):
        return
    final = b.stats
    # Through translation: the devices whose own check passed.
    for role, check in (("e1000", "net-e1000-tftp"), ("virtio", "net-virtio-tftp"), ("nvme", "nvme-rw")):
        phb = ROLE_PHB[role]
        if not b.passed(check):
            continue
        src = b.snapshots.get("wrap-end") or final
        t = num(src, phb, "stat-translations")
        if t is None:
            b.checks.append(Check("SKIP", f"{b.name}:stats-{phb}", "stat-translations n/a"))
        elif t > 0:
            b.checks.append(Check("PASS", f"{b.name}:stats-{phb}", f"{role} DMA: {t} translations on {phb}"))
        else:
            b.checks.append(Check("FAIL", f"{b.name}:stats-{phb}", f"{role} worked but {phb} translated nothing"))
    # calgary=disable=: that PHB's e1000 worked, untranslated.
    phb = ROLE_PHB["e1000-disabled"]
    src = b.snapshots.get("wrap-end") or final
    if b.passed(f"net-e1000-bus{MATRIX_DISABLE_BUS:02x}-tftp") and src:
        t, by = num(src, phb, "stat-translations"), num(src, phb, "stat-bypassed")
        if t == 0 and by:
            b.checks.append(Check("PASS", f"{b.name}:stats-disabled", f"{phb}: 0 translations, {by} bypassed DMAs"))
        else:
            b.checks.append(Check("FAIL", f"{b.name}:stats-disabled", f"{phb}: translations={t}, bypassed={by}"))
    # The wrap must have made the driver flush that PHB's TCE cache.
    wrap = next((l for l in b.lines if l.startswith("CALGARY-INFO wrap ")), None)
    if b.passed("dma-wrap") and wrap:
        m = re.search(r"phb=(calgary\d\.\d)", wrap)
        phb = m.group(1) if m else "?"
        s0, s1 = b.snapshots.get("wrap-begin"), b.snapshots.get("wrap-end")
        if not (s0 and s1):
            b.checks.append(Check("FAIL", f"{b.name}:flush-on-wrap", "no counter snapshots around the wrap (sync failed)"))
        else:
            f0, f1 = num(s0, phb, "stat-flushes"), num(s1, phb, "stat-flushes")
            others = {p: (num(s1, p, "stat-flushes") or 0) - (num(s0, p, "stat-flushes") or 0) for p in s1}
            grew = ", ".join(f"{p} +{d}" for p, d in others.items() if d)
            if f0 is not None and f1 is not None and f1 > f0:
                b.checks.append(Check("PASS", f"{b.name}:flush-on-wrap",
                                      f"{phb} stat-flushes {f0} -> {f1} during the wrap (the driver's TCE cache flush); all: {grew}"))
            else:
                b.checks.append(Check("FAIL", f"{b.name}:flush-on-wrap",
                                      f"{phb} stat-flushes {f0} -> {f1}: the wrap did not flush"))
    # kdump: the capture kernel's devices DMA'd through the reused tables.
    if kdump and b.capture_done:
        s0, s1 = b.snapshots.get("capture-begin"), b.snapshots.get("capture-end")
        if not (s0 and s1):
            b.checks.append(Check("FAIL", f"{b.name}:kdump-dma-translated", "no counter snapshots in the capture kernel"))
        else:
            parts, bad = [], []
            for role, check in (("e1000", "kdump-net-e1000-tftp"), ("nvme", "kdump-nvme-rw")):
                if b.guest(check) is None or b.guest(check).status == "SKIP":
                    continue
                phb = ROLE_PHB[role]
                d = (num(s1, phb, "stat-translations") or 0) - (num(s0, phb, "stat-translations") or 0)
                bl = (num(s1, phb, "stat-blocked") or 0) - (num(s0, phb, "stat-blocked") or 0)
                parts.append(f"{role} on {phb}: +{d} translations, +{bl} blocked")
                if d <= 0:
                    bad.append(role)
            if parts and not bad:
                b.checks.append(Check("PASS", f"{b.name}:kdump-dma-translated", "; ".join(parts)))
            elif parts:
                b.checks.append(Check("FAIL", f"{b.name}:kdump-dma-translated",
                                      f"no translations for {', '.join(bad)}: {'; '.join(parts)}"))


# Failures whose cause the kernel's own log names, as data: (check name
# pattern, kernel log pattern with {ifn} for the interface the check used,
# why). Such a FAIL becomes SKIP "kernel bug, not the platform" with the log
# line quoted, only when that line is there.
KERNEL_DEFECTS = [
    (re.compile(rf"(kdump-)?net-e1000-bus{MATRIX_DISABLE_BUS:02x}-dhcp$"),
     r"{ifn}: e1000_setup_tx_resources: Unable to allocate memory",
     "this kernel cannot allocate coherent DMA memory for a device on a PHB that calgary=disable= left "
     "untranslated (2.6.27: the Calgary driver sets force_iommu, and dma_alloc_coherent() then needs "
     "alloc_coherent or map_simple from the device's nommu ops, which has neither); no DMA reached the machine"),
]


def apply_kernel_defects(b: Boot) -> None:
    for i, c in enumerate(b.checks):
        if c.status != "FAIL":
            continue
        check = c.name.split(":", 1)[-1]
        for name_rx, log_rx, why in KERNEL_DEFECTS:
            if not name_rx.match(check):
                continue
            m = re.match(r"(\w+) \(", c.reason)
            rx = re.compile(log_rx.replace("{ifn}", re.escape(m.group(1)) if m else r"\w+"))
            # a capture-kernel check is judged on the capture kernel's log only
            lines = b.lines[Runner._crash_index(b):] if check.startswith("kdump-") else b.lines
            line = next((l for l in lines if rx.search(l)), None)
            if line:
                b.checks[i] = Check("SKIP", c.name, f"kernel bug, not the platform: {why}; kernel log: "
                                                    f"'{line.split(']', 1)[-1].strip()}'; check said: {c.reason}")


def kdump_diagnosis(b: Boot) -> tuple[str, bool]:
    """What the capture kernel's console says when it died: the oops
    location, and whether the faulting address is the direct-map alias of a
    TCE table the crashed kernel left in TAR while that table lies outside
    the capture kernel's own RAM (Linux maps only its E820 RAM directly)."""
    start = next((i for i, l in enumerate(b.lines) if "CALGARY-KDUMP" in l), None)
    if start is None:
        return "", False
    after = b.lines[start:]
    banner = next((i for i, l in enumerate(after) if "Linux version" in l), None)
    if banner is None:
        return "no capture kernel banner after the crash", False
    cap = after[banner:]
    # the fatal oops: its BUG line, then the RIP and CR2 that follow it
    # (an earlier WARNING prints RIP/CR2 lines of its own)
    at = next((i for i, l in enumerate(cap) if "BUG:" in l or "unable to handle" in l), None)
    oops = cap[at:] if at is not None else []
    bug = oops[0].split("]", 1)[-1].strip() if oops else ""
    rip = next((l.split("RIP:", 1)[1].strip() for l in oops if "RIP:" in l and "0010:" in l), "")
    cr2 = next((l.split("CR2:", 1)[1].split()[0] for l in oops if "CR2:" in l), "")
    usable = []
    for l in cap:
        # "BIOS-e820: [mem 0x..-0x..] usable" (inclusive end), older
        # "BIOS-e820: 00000.. - 00000.. (usable)" and "user: ..." (exclusive end)
        m = re.search(r"(?:BIOS-e820|user): \[mem (0x[0-9a-f]+)-(0x[0-9a-f]+)\] usable", l)
        if m:
            usable.append((int(m.group(1), 16), int(m.group(2), 16)))
        m = re.search(r"(?:BIOS-e820|user): ([0-9a-f]{16}) - ([0-9a-f]{16}) \(usable\)", l)
        if m:
            usable.append((int(m.group(1), 16), int(m.group(2), 16) - 1))
    tars = []
    for l in b.lines[:start]:
        m = re.search(r"calgary\.prev_tar=([0-9a-f:,]+)", l)
        if m:
            for e in m.group(1).split(","):
                bus, tar = e.split(":")
                tars.append((int(bus, 16), int(tar, 16) & 0x0000_FFFF_FFFF_8000))
    out = []
    kernel_bug = False
    if bug or rip:
        out.append(f"capture kernel oops: '{bug}' at {rip or '?'}" + (f", CR2 {cr2}" if cr2 else ""))
    if cr2 and tars:
        try:
            fault = int(cr2, 16)
        except ValueError:
            fault = 0
        for bus, table in tars:
            base = fault - table
            if fault >= 0xFFFF_8000_0000_0000 and base % (1 << 30) == 0:
                inside = any(a <= table <= e for a, e in usable)
                kernel_bug = kernel_bug or (not inside and "calgary" in rip)
                out.append(f"CR2 is the direct-map address (PAGE_OFFSET {base:#x}) of PHB {bus:#x}'s TCE table "
                           f"{table:#x} from TAR, which is {'inside' if inside else 'outside'} the capture "
                           f"kernel's usable RAM [{', '.join(f'{a:#x}-{e:#x}' for a, e in usable)}]: the driver "
                           "reads the crashed kernel's table through __va() (get_tce_space_from_tar, "
                           "calgary_init_bitmap_from_tce_table) and this kernel does not map that memory")
    return "; ".join(out), kernel_bug


def column(check: str) -> str:
    dis = f"{MATRIX_DISABLE_BUS:#04x}"
    if check.startswith(f"kdump-net-e1000-bus{MATRIX_DISABLE_BUS:02x}"):
        return "disable"  # the capture kernel's untranslated NIC
    if check.startswith("kdump"):
        return "kdump"
    if check in ("boot", "done", "qmp") or check.startswith("qmp-"):
        return "boot"
    if check in ("kernel-detect", "kernel-init", "kernel-calgary-driver", "rio-table", "phb-buses",
                 "phb-bus-numbering", "kernel-iommu-off"):
        return "detect"
    if check == f"kernel-enable-{dis}" or check.startswith(f"net-e1000-bus{MATRIX_DISABLE_BUS:02x}") \
            or check == "stats-disabled":
        return "disable"
    if check.startswith("kernel-enable-"):
        return "enable"
    if check.startswith("net-e1000") or check == f"stats-{ROLE_PHB['e1000']}":
        return "e1000"
    if check.startswith("net-virtio") or check == f"stats-{ROLE_PHB['virtio']}":
        return "virtio"
    if check.startswith("nvme") or check == f"stats-{ROLE_PHB['nvme']}":
        return "nvme"
    if check in ("dma-wrap", "flush-on-wrap"):
        return "wrap+flush"
    if check == "kernel-errant-dma":
        return "errant"
    if check == "phb-health":
        return "health"
    return "other"


def cell_columns(cell: Cell) -> dict[str, str]:
    cols: dict[str, list[str]] = {c: [] for c in MATRIX_COLUMNS}
    prefix = f"{cell.label}/{cell.variant}:"
    for c in cell.checks:
        cols[column(c.name[len(prefix):] if c.name.startswith(prefix) else c.name)].append(c.status)
    out = {}
    for c, st in cols.items():
        out[c] = ("FAIL" if "FAIL" in st else "PASS" if "PASS" in st else "skip" if st else "-")
    for c in cell.checks:
        col = column(c.name[len(prefix):] if c.name.startswith(prefix) else c.name)
        if c.reason.startswith("kernel bug") and out[col] != "FAIL":
            out[col] = "kbug"
    return out


def print_matrix(cells: list[Cell], accel: str, cache: str) -> None:
    print(f"# Kernel matrix — accelerator {accel}, -m {MATRIX_MEM}, chips={MATRIX_CHIPS}, "
          f"calgary={MATRIX_TABLE},disable={MATRIX_DISABLE_BUS:#x}, tce-cache={cache}")
    # "other" (e.g. modules-load, which skips for built-in drivers) only when it says something.
    used = [c for c in MATRIX_COLUMNS
            if c != "other" or any(cell_columns(x)["other"] in ("PASS", "FAIL") for x in cells if x.boot)]
    w = max([len("kernel")] + [len(c.label) for c in cells]) + 2
    print("  " + "kernel".ljust(w) + "variant".ljust(11) + "".join(c.ljust(max(6, len(c) + 2)) for c in used))
    for cell in cells:
        head = "  " + cell.label.ljust(w) + cell.variant.ljust(11)
        if cell.boot is None:
            print(head + cell.reason)
            continue
        cols = cell_columns(cell)
        print(head + "".join(cols[c].ljust(max(6, len(c) + 2)) for c in used))
    print("  (skip: optional or not applicable for that kernel; kbug: a diagnosed defect of the kernel "
          "itself stopped the check; '-': not run; details in the check lines above)")


def run_matrix(r: Runner, paths: list[str], timeout: float, checks: list[Check],
               boots: list[Boot]) -> list[Cell]:
    cells: list[Cell] = []
    variants = r.args.variant or ["calgary", "calioc2"]
    seen: dict[str, int] = {}
    for path in paths:
        if not Path(path).is_file():
            checks.append(Check("FAIL", f"kernel {path}", "does not exist"))
            continue
        k = kernels.identify(path)
        label = k.label if k.version else Path(path).name
        seen[label] = seen.get(label, 0) + 1
        if seen[label] > 1:
            label += f"#{seen[label]}"
        pl = kernels.plan(k)
        probes = " ".join(n for n, v in k.strings.items() if v) or "-"
        info = (f"{path}: Linux {k.version_string or '(no version string)'}; boot protocol {k.protocol:#x}, "
                f"{k.compression or 'payload not decompressed'}, relocatable={k.relocatable}, found in image: {probes}")
        if pl.machine:
            info += f"; machine {','.join(f'{p}={v}' for p, v in pl.machine)} ({'; '.join(pl.machine_why)})"
        for n in pl.notes:
            info += f"; {n}"
        checks.append(Check("PASS" if k.version else "SKIP", f"{label}:identify", info))
        log(f"matrix: {info}")
        for v in variants:
            cell = matrix_cell(r, k, pl, label, v, timeout)
            cells.append(cell)
            if cell.boot is not None:
                boots.append(cell.boot)
                checks.extend(cell.checks)
            else:
                st = "FAIL" if cell.status == "FAIL" else "SKIP"
                checks.append(Check(st, f"{label}/{v}", cell.reason))
    return cells


def kdump_log(cells: list[Cell]) -> None:
    """Quote the capture kernel's Calgary lines: its console from its banner
    on (and the tool's dmesg quotes), plus any oops."""
    keys = ("Calgary", "CalIOC2", "PCI-DMA", "BUG:", "RIP:", "Kernel panic")
    for cell in cells:
        b = cell.boot
        if b is None or b.crash_at is None:
            continue
        start = next((i for i, l in enumerate(b.lines) if "CALGARY-KDUMP" in l), None)
        if start is None:
            continue
        after = b.lines[start:]
        banner = next((i for i, l in enumerate(after) if "Linux version" in l), len(after))
        quoted: list[str] = []
        for l in after[banner:]:
            text = l[len("CALGARY-INFO dmesg: "):] if l.startswith("CALGARY-INFO dmesg: ") else l
            text = re.sub(r"^\[\s*[\d.]+\]\s*", "", text)
            if any(k in text for k in keys) and text not in quoted \
                    and not text.startswith(("CALGARY-", "DMI:", "Hardware name:")):
                quoted.append(text)
        print(f"# kdump {cell.label}: the capture kernel's Calgary lines ({len(quoted)})")
        for l in quoted:
            print(f"    {l}")


# ----------------------------------------------------------------- main
def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--kernel", action="append", default=None,
                    help="a kernel image with the Calgary driver; repeat for a matrix "
                         "(default: CALGARY_GUEST_KERNEL, colon-separated), e.g. "
                         "--kernel /path/to/5.4/bzImage --kernel /path/to/3.10/bzImage")
    ap.add_argument("--variant", action="append", choices=["calgary", "calioc2", "iommu-off"], default=None,
                    help="matrix variants (default: calgary and calioc2); the first one also sets the default suite's chip")
    ap.add_argument("--cache", choices=["off", "coherent", "faithful"], default="faithful")
    ap.add_argument("--qemu", default=os.environ.get("CALGARY_QEMU", str(DEFAULT_QEMU)))
    ap.add_argument("--timeout", type=float, default=None, help="seconds per boot (default 300 TCG, 90 KVM; doubled with kdump)")
    ap.add_argument("--log", default=None, help="append the console of every boot here")
    ap.add_argument("--suite", choices=["default", "kernel", "all", "inject"], default=None,
                    help="inject: only the fault-injection boots (inject_checks.py); kernel and all run them "
                         "after the matrix")
    ap.add_argument("--no-inject", action="store_true", help="kernel/all without the fault-injection boots")
    ap.add_argument("--machine", choices=["auto", "calgary", "pc"], default="auto")
    ap.add_argument("--accel", choices=["auto", "kvm", "tcg"], default="auto")
    ap.add_argument("--chips", type=int, default=1, help="chips of the default suite (the matrix uses 2)")
    ap.add_argument("--no-kdump", action="store_true", help="matrix without the kdump crash and capture kernel")
    ap.add_argument("--append", default="", help="extra kernel command line for the matrix boots (debugging), "
                                                  "e.g. calgary.shell=1 or CALGARY_COMPAT_FORCE=trace")
    ap.add_argument("--qemu-debug", action="store_true", help="-d guest_errors into the temp dir")
    args = ap.parse_args(argv)
    paths = kernels.kernel_list(args.kernel, os.environ.get("CALGARY_GUEST_KERNEL"))
    suite = args.suite or ("all" if paths else "default")
    t_start = time.monotonic()

    if not Path(args.qemu).exists():
        print(f"FAIL qemu — {args.qemu} not found (build QEMU first)")
        return 1
    try:
        env = assemble()
    except (RuntimeError, subprocess.TimeoutExpired) as e:
        print(f"FAIL assemble — {e}")
        return 1
    log(f"guest: {env.get('KPKG')} {env.get('BUSYBOX')} {env.get('KEXEC')} tool {env.get('TOOL_HASH')} "
        f"(assembly {env['_seconds']}s)")
    r = Runner(args, env)
    checks: list[Check] = []
    boots: list[Boot] = []
    cells: list[Cell] = []
    try:
        machines = qemu_out(args.qemu, "-machine", "help")
        has_calgary = any(l.split()[:1] == ["calgary"] for l in machines.splitlines())
        if args.machine == "calgary" or (args.machine == "auto" and has_calgary):
            r.calgary = True
            r.props = machine_properties(args.qemu)
        if not r.calgary:
            checks.append(Check("SKIP", "calgary-machine",
                                f"QEMU has no 'calgary' machine{'' if args.machine != 'pc' else ' (--machine pc)'}: "
                                "devices on pc bus 0, Calgary checks skip"))
        r.choose_accel(env["KERNEL"])
        log(f"accelerator: {r.accel} ({r.accel_reason})")
        timeout = args.timeout or (90.0 if r.accel == "kvm" else 300.0)

        if suite in ("default", "all"):
            extra = f"loglevel=4 calgary.suite=default calgary.cache={args.cache} calgary.blob_md5={r.blob_md5}"
            machine, devices = r.default_machine(True)
            b = r.boot(BootSpec("default", env["KERNEL"], base_append(extra), env["INITRD"], machine, devices,
                                timeout, chips=args.chips))
            r.verify_disk(b, "nvme-rw", DISK_SEED, DISK_OFF, "nvme-host-verify")
            boots.append(b)
            checks.extend(b.checks)
            add_default_stat_checks(b, checks, r.calgary)
        if suite in ("kernel", "all"):
            if not paths:
                checks.append(Check("SKIP", "kernel-matrix", "no --kernel / CALGARY_GUEST_KERNEL given"))
            elif not r.calgary:
                checks.append(Check("SKIP", "kernel-matrix", "no calgary machine in this QEMU"))
            else:
                cells = run_matrix(r, paths, timeout, checks, boots)
        if suite in ("kernel", "all", "inject") and paths and r.calgary and not args.no_inject:
            inject_checks.run(sys.modules[__name__], r, paths, timeout, checks, boots)
    finally:
        r.close()

    checks[:0] = r.machine_checks
    print(f"# Calgary guest validation — qemu {args.qemu}, machine {'calgary' if r.calgary else 'pc'}, "
          f"cache {args.cache}, accelerator {r.accel} ({r.accel_reason})")
    for c in checks:
        print(f"{c.status} {c.name} — {c.reason}")
    for b in boots:
        if b.stats:
            print(f"# per-PHB statistics after boot '{b.name}' (QMP qom-get /machine/calgaryC/phbP)")
            cols = STAT_PROPS + ["csr"]
            print("  " + "phb".ljust(11) + "".join(c.replace("stat-", "").rjust(14) for c in cols))
            for phb, row in b.stats.items():
                print("  " + phb.ljust(11) + "".join(row.get(c, "n/a").rjust(14) for c in cols))
    if cells:
        kdump_log(cells)
        print_matrix(cells, f"{r.accel} ({r.accel_reason})", args.cache)
    nfail = sum(c.status == "FAIL" for c in checks)
    npass = sum(c.status == "PASS" for c in checks)
    nskip = sum(c.status == "SKIP" for c in checks)
    print(f"# {npass} passed, {nfail} failed, {nskip} skipped in {time.monotonic() - t_start:.0f}s "
          f"(boots: {', '.join(f'{b.name} {b.seconds:.0f}s' for b in boots)})")
    return 1 if nfail else 0


def add_default_stat_checks(b: Boot, checks: list[Check], calgary: bool) -> None:
    """Default suite: cross-check the guest's story with the counters."""
    if not calgary or not b.stats:
        return
    blocked = num(b.stats, "calgary0.0", "stat-blocked")
    if blocked is None:
        checks.append(Check("SKIP", "default:stats-edu-blocked", "stat-blocked n/a"))
    elif blocked > 0:
        checks.append(Check("PASS", "default:stats-edu-blocked", f"calgary0.0 counted {blocked} blocked DMAs"))
    else:
        checks.append(Check("FAIL", "default:stats-edu-blocked", "calgary0.0 counted no blocked DMA"))
    for phb in ("calgary0.1", "calgary0.2", "calgary0.3"):
        t = num(b.stats, phb, "stat-translations")
        if t is None:
            checks.append(Check("SKIP", f"default:stats-{phb}", "stat-translations n/a"))
        elif t > 0:
            checks.append(Check("PASS", f"default:stats-{phb}", f"{t} translated DMAs"))
        else:
            checks.append(Check("FAIL", f"default:stats-{phb}", "device DMA did not go through translation (0 translations)"))


if __name__ == "__main__":
    sys.exit(main())
