#!/usr/bin/env python3
"""Boot Linux guests on the emulated Calgary machine and validate them.

Usage:
  boot.py [--kernel PATH]... [--variant calgary|calioc2|iommu-off]...
          [--cache off|coherent|faithful] [--qemu PATH] [--timeout S] [--log FILE]
          [--suite default|kernel|all|inject] [--no-inject] [--machine auto|calgary|pc]
          [--accel auto|kvm|tcg] [--chips N] [--no-kdump]
          [--suite smp --kernel PATH]

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
import os
import subprocess
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # hw-tests: the shared QMP client
sys.path.insert(0, str(Path(__file__).resolve().parent))
import kernels  # noqa: E402
import inject_checks  # noqa: E402
import smp_checks  # noqa: E402
# The runner's parts; their names are re-exported here (tests and users import boot).
from guestcommon import (DEFAULT_QEMU, DISK_OFF, DISK_SEED, MATRIX_COLUMNS, STAT_PROPS, Boot,  # noqa: E402,F401
                         BootSpec, Check, assemble, base_append, log, machine_properties, newc, num, qemu_out)
from qemuboot import Runner  # noqa: E402
from diagnosis import KERNEL_DEFECTS, apply_kernel_defects, kdump_diagnosis  # noqa: E402,F401
from matrix import (Cell, args_initrd, cell_columns, cell_stat_checks, column, kdump_initrd,  # noqa: E402,F401
                    kdump_log, matrix_cell, print_matrix, run_matrix, split_cmdline)
from guestcommon import MatrixLayout, matrix_layout  # noqa: E402,F401


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
    ap.add_argument("--suite", choices=["default", "kernel", "all", "inject", "smp"], default=None,
                    help="inject: only the fault-injection boots (inject_checks.py); kernel and all run them "
                         "after the matrix; smp: one -smp 4 boot of the first kernel driving all four PHBs "
                         "at once (smp_checks.py)")
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
            inject_checks.run(r, paths, timeout, checks, boots)
        if suite == "smp":
            smp_checks.run(r, paths, timeout, checks, boots)
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
