"""One QEMU boot of a guest under the runner (boot.py): the command line, the
console reader with its sync points (counters read over QMP while the guest
waits), the verdict on the boot itself, and the accelerator choice.

Python 3.11 stdlib.
"""

from __future__ import annotations

import argparse
import hashlib
import os
import re
import shutil
import subprocess
import tempfile
import threading
import time
from pathlib import Path

from qmp import Qmp  # shared QMP client (hw-tests/qmp.py)
from guestcommon import (DISK_LEN, FIRMWARE, STAT_PROPS, Boot, BootSpec, Check,  # noqa: F401
                         MatrixLayout, UNSUPPORTED_RE, crash_index, disk_pattern, make_blob)
from diagnosis import kdump_diagnosis


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

    def matrix_devices(self, lay: MatrixLayout | None = None) -> list[str]:
        tftp = str(self.tmp / "tftp")
        lay = lay or MatrixLayout()
        out: list[str] = list(lay.qemu_args())
        nic = 0
        for role, dev, bus, slot, _, _ in lay.devices():
            if dev == "edu":
                out += ["-device", f"edu,bus={bus},addr={slot},dma_mask=0xffffffff"]
            elif dev in ("e1000", "virtio-net-pci"):
                out += ["-netdev", f"user,id=n{nic},net=10.0.{2 + nic}.0/24,restrict=on,tftp={tftp}"]
                extra = ",iommu_platform=on,disable-legacy=on" if dev == "virtio-net-pci" else ""
                out += ["-device", f"{dev},bus={bus},addr={slot},netdev=n{nic}{extra}"]
                nic += 1
            elif dev == "nvme":
                out += ["-drive", f"file={self.tmp / 'disk.raw'},if=none,id=d0,format=raw",
                        "-device", f"nvme,bus={bus},addr={slot},drive=d0,serial=calgary"]
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
        cmd = [self.qemu, *FIRMWARE, "-machine", spec.machine, *spec.devices, "-m", spec.mem, "-smp", str(spec.smp),
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
                    diag, kernel_bug = kdump_diagnosis(b, spec.ram_only_direct_map)
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
        return crash_index(b)

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
