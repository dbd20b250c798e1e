#!/usr/bin/env python3
"""Checks the TCG plugin (rust/calgary-plugin): boots a kernel without an
initramfs under TCG for a few seconds (it panics at mount: fine) with the
plugin loaded and checks the JSON it writes at exit: nonzero totals, kernel
instructions, and nonzero counts inside a kernel address range.

Kernel: $CALGARY_GUEST_KERNEL with its System.map (named symbols: memset,
memcpy, vprintk_emit), else Debian's kernel from guest-images/ with a range
over the kernel text at the `nokaslr` address. Skips with the reason when
QEMU, cargo or a kernel is missing.

    python3 -m unittest hw-tests/bench/test_plugin.py
"""

from __future__ import annotations

import json
import os
import select
import shutil
import signal
import subprocess
import tempfile
import time
import unittest
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
QEMU = Path(os.environ.get("CALGARY_QEMU", REPO / "build" / "qemu-system-x86_64"))
LIB = REPO / "target" / "release" / "libcalgary_plugin.so"
FIRMWARE = ["-L", "/usr/share/seabios", "-L", "/usr/lib/ipxe/qemu", "-L", "/usr/share/qemu"]


def kernel_and_args() -> tuple[str, str] | str:
    uk = (os.environ.get("CALGARY_GUEST_KERNEL") or "").split(":")[0]  # first of a kernel list
    if uk:
        smap = os.environ.get("CALGARY_GUEST_SYSTEM_MAP") or str(Path(uk).with_name("System.map"))
        if Path(uk).exists() and Path(smap).exists():
            return uk, f"map={smap},syms=memset:memcpy:vprintk_emit"
    p = subprocess.run(["bash", str(REPO / "guest-images" / "build-initramfs.sh"), "--quiet"],
                       capture_output=True, text=True, timeout=1800)
    env = dict(l.split("=", 1) for l in p.stdout.splitlines() if "=" in l)
    if p.returncode != 0 or not Path(env.get("KERNEL", "/nonexistent")).exists():
        return "no kernel: set CALGARY_GUEST_KERNEL or make guest-images/build-initramfs.sh work"
    # nokaslr: the kernel text starts at 0xffffffff81000000
    return env["KERNEL"], "range=ktext:ffffffff81000000:ffffffff83000000"


def run_until_banner(cmd: list[str], after: float, deadline: float) -> bool:
    """Run QEMU until `after` seconds past the kernel banner (or `deadline`),
    then SIGINT it so the plugin writes its counts at exit."""
    p = subprocess.Popen(cmd, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    buf, seen, stop_at = b"", False, time.time() + deadline
    try:
        assert p.stdout is not None
        while time.time() < stop_at and p.poll() is None:
            r, _, _ = select.select([p.stdout], [], [], 0.5)
            if r:
                buf = (buf + os.read(p.stdout.fileno(), 65536))[-65536:]
            if not seen and b"Linux version" in buf:
                seen, stop_at = True, time.time() + after
        p.send_signal(signal.SIGINT)
        p.wait(timeout=60)
    finally:
        if p.poll() is None:
            p.kill()
            p.wait()
    return seen


class Plugin(unittest.TestCase):
    def test_counts(self) -> None:
        if not QEMU.exists():
            self.skipTest(f"QEMU binary {QEMU} not built")
        if not shutil.which("cargo"):
            self.skipTest("cargo not found")
        b = subprocess.run(["nice", "cargo", "build", "-q", "--release", "-p", "calgary-plugin"], cwd=REPO,
                           capture_output=True, text=True)
        self.assertEqual(b.returncode, 0, b.stderr[-2000:])
        ka = kernel_and_args()
        if isinstance(ka, str):
            self.skipTest(ka)
        kernel, args = ka
        with tempfile.TemporaryDirectory() as td:
            out = Path(td) / "insns.json"
            cmd = ["nice", str(QEMU), "-machine", "calgary", "-accel", "tcg",
                   "-m", "512", "-nographic", "-no-reboot", *FIRMWARE, "-kernel", kernel,
                   "-append", "console=ttyS0 nokaslr panic=0 loglevel=7",
                   "-plugin", f"{LIB},out={out},{args}"]
            # Stop a few seconds after the kernel's banner, not after a fixed
            # time: on a loaded host the firmware alone can take longer.
            seen = run_until_banner(cmd, after=8.0, deadline=300.0)
            self.assertTrue(seen, "the kernel printed no 'Linux version' banner within 300 s")
            self.assertTrue(out.exists(), "plugin wrote no JSON at exit")
            d = json.loads(out.read_text())
        self.assertGreater(d["total"], 10_000_000)
        self.assertGreater(d["kernel"], 1_000_000)
        self.assertEqual(d["total"], d["kernel"] + d["nonkernel"])
        self.assertTrue(d["ranges"])
        hot = max(d["ranges"], key=lambda r: r["insns"])
        self.assertGreater(hot["insns"], 0, d["ranges"])
        if "syms=" in args:  # function entries counted (a raw range's start need not be an entry)
            self.assertGreater(hot["calls"], 0, d["ranges"])
        self.assertLessEqual(hot["insns"], d["kernel"])


if __name__ == "__main__":
    unittest.main()
