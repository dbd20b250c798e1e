#!/usr/bin/env python3
"""Boot a Linux guest on the emulated Calgary machine and validate it.

Usage:
  boot.py [--kernel PATH] [--variant calgary|calioc2] [--cache off|coherent|faithful]
          [--qemu PATH] [--timeout S] [--log FILE] [--suite default|kernel|all]
          [--machine auto|calgary|pc] [--accel auto|kvm|tcg] [--chips N]

Default suite: Debian's bookworm kernel (no Calgary driver) with the initramfs
from guest-images/build-initramfs.sh; the in-guest tool (rust/calgary-guest)
plays the driver from user space (edu DMA checks, identity pre-map for
e1000 / virtio-net / nvme).

Kernel suite (--kernel PATH or CALGARY_GUEST_KERNEL): boots that kernel with
the same initramfs three times (default, iommu=off, calgary=disable=0x24)
and validates the kernel's own Calgary driver.

Prints one line per check, `PASS|FAIL|SKIP name — reason`, then per-PHB
statistics read over QMP; exits 1 if any check failed. Python 3.11 stdlib.
"""

from __future__ import annotations

import argparse
import hashlib
import os
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
from qmp import Qmp  # noqa: E402  (shared QMP client)
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
DISABLE_BUS = 0x24  # calgary=disable=<bus> boot of the kernel suite (calgary0.1 per the machine contract)


@dataclass
class Check:
    status: str
    name: str
    reason: str


@dataclass
class Boot:
    name: str
    checks: list[Check] = field(default_factory=list)
    lines: list[str] = field(default_factory=list)
    stats: dict[str, dict[str, str]] = field(default_factory=dict)
    seconds: float = 0.0
    userspace_at: float | None = None
    returncode: int | None = None


def log(msg: str) -> None:
    print(msg, file=sys.stderr, flush=True)


# ----------------------------------------------------------------- QMP
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


def assemble() -> dict[str, str]:
    t0 = time.monotonic()
    p = subprocess.run(["bash", str(ASSEMBLE), "--quiet"], capture_output=True, text=True, timeout=1800)
    if p.returncode != 0:
        raise RuntimeError(f"guest-images/build-initramfs.sh failed:\n{p.stderr[-3000:]}")
    env = dict(l.split("=", 1) for l in p.stdout.splitlines() if "=" in l)
    env["_seconds"] = f"{time.monotonic() - t0:.1f}"
    return env


def qemu_machines(qemu: str) -> str:
    try:
        return subprocess.run([qemu, "-machine", "help"], capture_output=True, text=True, timeout=30).stdout
    except (OSError, subprocess.TimeoutExpired):
        return ""


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
        # Extra QEMU arguments that work around a known machine bug; set when
        # a plain start crashed (reported once as a FAIL).
        self.workaround: list[str] = []
        self.machine_checks: list[Check] = []

    def close(self) -> None:
        if self.logf:
            self.logf.close()
        shutil.rmtree(self.tmp, ignore_errors=True)

    def machine_args(self, devices: bool) -> list[str]:
        a = self.args
        if self.calgary:
            m = f"calgary,chips={a.chips}"
            if a.variant:
                m += f",variant={a.variant}"
            if a.cache:
                m += f",tce-cache={a.cache}"
            bus = {0: "calgary0.0", 1: "calgary0.1", 2: "calgary0.2", 3: "calgary0.3"}
            addr = {0: "1", 1: "1", 2: "1", 3: "1"}
        else:
            m = "pc"
            bus = {i: "pci.0" for i in range(4)}
            addr = {0: "5", 1: "6", 2: "7", 3: "8"}
        out = ["-machine", m]
        if not devices:
            return out
        tftp = str(self.tmp / "tftp")
        out += [
            "-device", f"edu,bus={bus[0]},addr={addr[0]},dma_mask=0xffffffff",
            "-netdev", f"user,id=n0,net=10.0.2.0/24,restrict=on,tftp={tftp}",
            "-device", f"e1000,bus={bus[1]},addr={addr[1]},netdev=n0",
            "-netdev", f"user,id=n1,net=10.0.3.0/24,restrict=on,tftp={tftp}",
            "-device", f"virtio-net-pci,bus={bus[2]},addr={addr[2]},netdev=n1,iommu_platform=on,disable-legacy=on",
            "-drive", f"file={self.tmp / 'disk.raw'},if=none,id=d0,format=raw",
            "-device", f"nvme,bus={bus[3]},addr={addr[3]},drive=d0,serial=calgary",
        ]
        return out

    # ------------------------------------------------------------- one boot
    def boot(self, name: str, kernel: str, append: str, timeout: float,
             accel: str | None = None, devices: bool = True, probe: bool = False,
             silent_timeout: float = 0.0) -> Boot:
        b = self._boot(name, kernel, append, timeout, accel, devices, probe, silent_timeout)
        crashed = (b.returncode is not None and b.returncode < 0 and not b.lines)
        if crashed and self.calgary and not self.workaround:
            # Known bug: QEMU's DSDT builder (build_append_notfication_callback)
            # dereferences parent_dev of every child bus of bus 0; the Calgary
            # PHB root buses have none, so ACPI PCI hotplug crashes the start.
            self.workaround = ["-global", "PIIX4_PM.acpi-pci-hotplug-with-bridge-support=off",
                               "-global", "PIIX4_PM.acpi-root-pci-hotplug=off"]
            retry = self._boot(name, kernel, append, timeout, accel, devices, probe, silent_timeout)
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

    def _boot(self, name: str, kernel: str, append: str, timeout: float,
              accel: str | None, devices: bool, probe: bool, silent_timeout: float) -> Boot:
        b = Boot(name)
        accel = accel or self.accel
        disk = self.tmp / "disk.raw"
        with open(disk, "wb") as f:
            f.truncate(16 << 20)
        qmp_path = str(self.tmp / f"qmp-{name}.sock")
        stderr_path = self.tmp / f"stderr-{name}.txt"
        cmd = [self.qemu, *FIRMWARE, *self.machine_args(devices), "-m", "512M", "-smp", "1",
               "-accel", accel, "-display", "none", "-serial", "stdio", "-monitor", "none",
               "-no-reboot", "-no-shutdown", "-qmp", f"unix:{qmp_path},server=on,wait=off",
               "-kernel", kernel, "-initrd", self.env["INITRD"], "-append", append]
        cmd += self.workaround
        if accel == "kvm":
            cmd += ["-cpu", "max"]
        if self.args.qemu_debug:
            cmd += ["-d", "guest_errors", "-D", str(self.tmp / f"qemu-{name}.log")]
        if self.logf:
            self.logf.write(f"\n===== boot {name}: {' '.join(cmd)}\n")
        t0 = time.monotonic()
        try:
            proc = subprocess.Popen(cmd, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                                    stderr=open(stderr_path, "w"))
        except OSError as e:
            b.checks.append(Check("FAIL", f"boot-{name}", f"cannot start QEMU: {e}"))
            return b
        done = threading.Event()
        userspace = threading.Event()

        def reader() -> None:
            assert proc.stdout is not None
            for raw in proc.stdout:
                line = raw.decode("utf-8", "replace").rstrip("\r\n")
                b.lines.append(line)
                if self.logf:
                    self.logf.write(line + "\n")
                if "CALGARY-INIT" in line and b.userspace_at is None:
                    b.userspace_at = time.monotonic() - t0
                    userspace.set()
                if line.startswith("CALGARY-DONE") or line.startswith("CALGARY-PROBE") \
                        or "Kernel panic" in line or "reboot: Power down" in line:
                    if "Kernel panic" in line:
                        time.sleep(0.5)
                    done.set()
            done.set()

        th = threading.Thread(target=reader, daemon=True)
        th.start()
        qmp = None
        try:
            finished = False
            while True:
                if done.wait(0.2):
                    finished = True
                    break
                el = time.monotonic() - t0
                if el > timeout or (silent_timeout and el > silent_timeout and not b.lines):
                    break
            if not finished and proc.poll() is None:
                proc.kill()
            if not finished or proc.poll() is not None and not any(l.startswith(("CALGARY-DONE", "CALGARY-PROBE")) for l in b.lines):
                reason = f"timed out after {timeout:.0f}s" if not finished else f"QEMU exited with status {proc.returncode}"
                err = stderr_path.read_text(errors="replace").strip()[-1500:] if stderr_path.exists() else ""
                tail = "\n".join("      | " + l for l in b.lines[-20:])
                b.checks.append(Check("FAIL", f"boot-{name}",
                                      f"{reason}; QEMU stderr: {err or '(empty)'}\n    last console lines:\n{tail}"))
            elif not probe and any("Kernel panic" in l for l in b.lines):
                tail = "\n".join("      | " + l for l in b.lines[-20:])
                b.checks.append(Check("FAIL", f"boot-{name}", f"kernel panic\n{tail}"))
            else:
                if not probe:
                    b.checks.append(Check("PASS", f"boot-{name}",
                                          f"userspace after {b.userspace_at or 0:.1f}s, suite finished after {time.monotonic() - t0:.1f}s ({accel})"))
                # Let the guest power off (-no-shutdown keeps QEMU for QMP).
                if proc.poll() is None:
                    try:
                        qmp = Qmp(qmp_path)
                        deadline = time.monotonic() + 20
                        while time.monotonic() < deadline:
                            st = qmp.cmd("query-status").get("return", {}).get("status")
                            if st in ("shutdown", "guest-panicked", "internal-error"):
                                break
                            time.sleep(0.2)
                        if devices and not probe:
                            b.stats = self.read_stats(qmp)
                    except (OSError, ConnectionError, ValueError) as e:
                        b.checks.append(Check("FAIL", f"qmp-{name}", f"QMP: {e}"))
        finally:
            if qmp is not None:
                try:
                    qmp.cmd("quit")
                except (OSError, ConnectionError, ValueError):
                    pass
                qmp.close()
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
        if not probe and any(c.name == f"boot-{name}" and c.status == "PASS" for c in b.checks):
            if not any(l.startswith("CALGARY-DONE") for l in b.lines):
                b.checks.append(Check("FAIL", f"{name}:done", "no CALGARY-DONE marker"))
            if devices:
                self.verify_disk(b, name)
        return b

    def verify_disk(self, b: Boot, name: str) -> None:
        if not any(c.name == f"{name}:nvme-rw" and c.status == "PASS" for c in b.checks):
            return
        data = (self.tmp / "disk.raw").read_bytes()[DISK_OFF:DISK_OFF + DISK_LEN]
        if data == disk_pattern(DISK_SEED, DISK_LEN):
            b.checks.append(Check("PASS", f"{name}:nvme-host-verify",
                                  f"backing file holds the guest's 4 MiB pattern (md5 {hashlib.md5(data).hexdigest()})"))
        else:
            b.checks.append(Check("FAIL", f"{name}:nvme-host-verify", "backing file does not hold the pattern the guest wrote"))

    def read_stats(self, qmp: Qmp) -> dict[str, dict[str, str]]:
        stats: dict[str, dict[str, str]] = {}
        if not self.calgary:
            return stats
        for c in range(self.args.chips):
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
        b = self.boot("kvm-probe", kernel, "console=ttyS0 quiet panic=-1 calgary.suite=probe",
                      timeout=20, accel="kvm", devices=False, probe=True, silent_timeout=8)
        ok = any(l.startswith("CALGARY-PROBE ok") for l in b.lines)
        secs = time.monotonic() - t0
        if ok:
            self.accel, self.accel_reason = "kvm", f"probe booted to userspace in {secs:.1f}s"
        else:
            err = (self.tmp / "stderr-kvm-probe.txt")
            msg = err.read_text(errors="replace").strip().splitlines()[-1:] if err.exists() else []
            self.accel = "tcg"
            self.accel_reason = f"KVM probe failed within {secs:.0f}s ({msg[0] if msg else 'no userspace line'})"


def base_append(extra: str) -> str:
    return f"console=ttyS0 iomem=relaxed {RESERVED} panic=-1 {extra}".strip()


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--kernel", default=os.environ.get("CALGARY_GUEST_KERNEL"))
    ap.add_argument("--variant", choices=["calgary", "calioc2"], default=None)
    ap.add_argument("--cache", choices=["off", "coherent", "faithful"], default="faithful")
    ap.add_argument("--qemu", default=os.environ.get("CALGARY_QEMU", str(DEFAULT_QEMU)))
    ap.add_argument("--timeout", type=float, default=None, help="seconds per boot (default 150 TCG, 60 KVM)")
    ap.add_argument("--log", default=None, help="append the console of every boot here")
    ap.add_argument("--suite", choices=["default", "kernel", "all"], default=None)
    ap.add_argument("--machine", choices=["auto", "calgary", "pc"], default="auto")
    ap.add_argument("--accel", choices=["auto", "kvm", "tcg"], default="auto")
    ap.add_argument("--chips", type=int, default=1)
    ap.add_argument("--qemu-debug", action="store_true", help="-d guest_errors into the temp dir")
    args = ap.parse_args(argv)
    suite = args.suite or ("all" if args.kernel else "default")
    t_start = time.monotonic()

    if not Path(args.qemu).exists():
        print(f"FAIL qemu — {args.qemu} not found (build QEMU first)")
        return 1
    try:
        env = assemble()
    except (RuntimeError, subprocess.TimeoutExpired) as e:
        print(f"FAIL assemble — {e}")
        return 1
    log(f"guest: {env.get('KPKG')} {env.get('BUSYBOX')} tool {env.get('TOOL_HASH')} (assembly {env['_seconds']}s)")
    r = Runner(args, env)
    checks: list[Check] = []
    boots: list[Boot] = []
    try:
        machines = qemu_machines(args.qemu)
        has_calgary = any(l.split()[:1] == ["calgary"] for l in machines.splitlines())
        if args.machine == "calgary" or (args.machine == "auto" and has_calgary):
            r.calgary = True
        if not r.calgary:
            checks.append(Check("SKIP", "calgary-machine",
                                f"QEMU has no 'calgary' machine{'' if args.machine != 'pc' else ' (--machine pc)'}: "
                                "devices on pc bus 0, Calgary checks skip"))
        r.choose_accel(env["KERNEL"])
        log(f"accelerator: {r.accel} ({r.accel_reason})")
        timeout = args.timeout or (60.0 if r.accel == "kvm" else 150.0)

        if suite in ("default", "all"):
            extra = f"loglevel=4 calgary.suite=default calgary.cache={args.cache} calgary.blob_md5={r.blob_md5}"
            boots.append(r.boot("default", env["KERNEL"], base_append(extra), timeout))
        if suite in ("kernel", "all"):
            if not args.kernel:
                checks.append(Check("SKIP", "kernel-suite", "no --kernel / CALGARY_GUEST_KERNEL given"))
            elif not Path(args.kernel).exists():
                checks.append(Check("FAIL", "kernel-suite", f"{args.kernel} does not exist"))
            else:
                common = f"loglevel=7 calgary.suite=kernel calgary.cache={args.cache} calgary.blob_md5={r.blob_md5}"
                sm = Path(args.kernel).with_name("System.map")
                if sm.exists() and "calgary" not in sm.read_text(errors="replace"):
                    checks.append(Check("SKIP", "kernel-driver",
                                        f"{sm} has no calgary symbols: this kernel has no Calgary driver"))
                for nm, extra in (("kernel", "iommu=calgary calgary.expect=translate"),
                                  ("kernel-iommu-off", "iommu=off calgary.expect=off"),
                                  ("kernel-disable", f"iommu=calgary calgary=disable={DISABLE_BUS:#x} calgary.expect=disable:{DISABLE_BUS:#x}")):
                    boots.append(r.boot(nm, args.kernel, base_append(f"{common} {extra}"), timeout))
    finally:
        r.close()

    checks.extend(r.machine_checks)
    for b in boots:
        checks.extend(b.checks)
        add_stat_checks(b, checks, r.calgary)
    print(f"# Calgary guest validation — qemu {args.qemu}, machine {'calgary' if r.calgary else 'pc'}"
          f"{',variant=' + args.variant if args.variant else ''}, cache {args.cache}, accelerator {r.accel} ({r.accel_reason})")
    for c in checks:
        print(f"{c.status} {c.name} — {c.reason}")
    for b in boots:
        if b.stats:
            print(f"# per-PHB statistics after boot '{b.name}' (QMP qom-get /machine/calgaryC/phbP)")
            cols = STAT_PROPS + ["csr"]
            print("  " + "phb".ljust(11) + "".join(c.replace("stat-", "").rjust(14) for c in cols))
            for phb, row in b.stats.items():
                print("  " + phb.ljust(11) + "".join(row.get(c, "n/a").rjust(14) for c in cols))
    nfail = sum(c.status == "FAIL" for c in checks)
    npass = sum(c.status == "PASS" for c in checks)
    nskip = sum(c.status == "SKIP" for c in checks)
    print(f"# {npass} passed, {nfail} failed, {nskip} skipped in {time.monotonic() - t_start:.0f}s "
          f"(boots: {', '.join(f'{b.name} {b.seconds:.0f}s' for b in boots)})")
    return 1 if nfail else 0


def add_stat_checks(b: Boot, checks: list[Check], calgary: bool) -> None:
    """Cross-check the guest's story with the device model's counters."""
    if not calgary or not b.stats:
        return

    def num(phb: str, prop: str) -> int | None:
        v = b.stats.get(phb, {}).get(prop, "n/a")
        return int(v) if v.isdigit() else None

    if b.name == "default":
        blocked = num("calgary0.0", "stat-blocked")
        if blocked is None:
            checks.append(Check("SKIP", "default:stats-edu-blocked", "stat-blocked n/a"))
        elif blocked > 0:
            checks.append(Check("PASS", "default:stats-edu-blocked", f"calgary0.0 counted {blocked} blocked DMAs"))
        else:
            checks.append(Check("FAIL", "default:stats-edu-blocked", "calgary0.0 counted no blocked DMA"))
    # Bus numbers as the guest found them (CALGARY-INFO phb calgaryC.P bus=0x..).
    bus_of = {}
    for l in b.lines:
        if l.startswith("CALGARY-INFO phb "):
            parts = l.split()
            if len(parts) >= 4 and parts[3].startswith("bus="):
                bus_of[parts[2]] = int(parts[3][4:], 16)
    if b.name in ("default", "kernel", "kernel-disable"):
        for phb in ("calgary0.1", "calgary0.2", "calgary0.3"):
            if b.name == "kernel-disable" and bus_of.get(phb) == DISABLE_BUS:
                continue
            t = num(phb, "stat-translations")
            if t is None:
                checks.append(Check("SKIP", f"{b.name}:stats-{phb}", "stat-translations n/a"))
            elif t > 0:
                checks.append(Check("PASS", f"{b.name}:stats-{phb}", f"{t} translated DMAs"))
            else:
                checks.append(Check("FAIL", f"{b.name}:stats-{phb}", "device DMA did not go through translation (0 translations)"))


if __name__ == "__main__":
    sys.exit(main())
