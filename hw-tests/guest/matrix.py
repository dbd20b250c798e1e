"""The kernel matrix of the guest runner (boot.py): one boot per kernel ×
variant with the kernel's own Calgary driver, the checks the runner adds from
the device model's counters, and the printed matrix.

Python 3.11 stdlib.
"""

from __future__ import annotations

import gzip
import re
from dataclasses import dataclass, field
from pathlib import Path

import kernels
from diagnosis import apply_kernel_defects
from guestcommon import (CAPTURE_DISK_OFF, CAPTURE_DISK_SEED, DISK_OFF, DISK_SEED, MATRIX_CHIPS, MATRIX_COLUMNS,
                         MATRIX_DISABLE_BUS, MATRIX_MEM, MATRIX_TABLE, ROLE_PHB, Boot, BootSpec, Check,
                         MatrixLayout, base_append, log, matrix_layout, newc, num)
from qemuboot import Runner


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
    lay: MatrixLayout = field(default_factory=MatrixLayout)


def split_cmdline(append: str, limit: int | None) -> tuple[str, str]:
    """(command line, in-guest tool parameters for /calgary.args): when
    `append` is longer than the kernel keeps, the tool's `calgary.key=value`
    tokens move to the file (the kernel's own `calgary=` stays)."""
    if limit is None or len(append) <= limit:
        return append, ""
    words = append.split()
    tool = [w for w in words if w.startswith("calgary.") and "=" in w]
    return " ".join(w for w in words if w not in tool), " ".join(tool)


def args_initrd(r: Runner, base: str, label: str, args: str) -> str:
    """`base` plus an appended archive holding /calgary.args."""
    safe = re.sub(r"[^\w.-]", "_", label)
    out = r.tmp / f"initrd-args-{safe}.gz"
    extra = newc([("calgary.args", 0o100644, (args + "\n").encode())])
    out.write_bytes(Path(base).read_bytes() + gzip.compress(extra, compresslevel=1, mtime=0))
    return str(out)


# The kernel log buffer the matrix asks for (log_buf_len=): large enough for
# memblock=debug; 2.6.35-3.8 allocate it before the kdump reservation.
LOG_BUF_BYTES = 1 << 20


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
    lay, why = matrix_layout(pl.machine)
    if lay is None:
        cell.status, cell.reason = "unsupported", f"{why} ({'; '.join(pl.machine_why)})"
        return cell
    cell.lay = lay
    dis = lay.disable_bus
    chip_variant = "calgary" if variant == "iommu-off" else variant
    machine = f"calgary,chips={MATRIX_CHIPS},variant={chip_variant},tce-cache={r.args.cache}"
    machine += "".join(f",{p}={v}" for p, v in pl.machine)
    optional = [n for n, req in (("virtio", pl.virtio_required), ("nvme", pl.nvme_required)) if not req]
    common = (f"loglevel=7 log_buf_len={LOG_BUF_BYTES >> 20}M {' '.join(pl.append)} calgary.suite=kernel calgary.cache={r.args.cache} "
              f"calgary.blob_md5={r.blob_md5} calgary.sync=1"
              + (f" calgary.optional={','.join(optional)}" if optional else "")
              + (f" {lay.guest_args()}" if lay.guest_args() else ""))
    kdump = variant == "calgary" and pl.kdump[0] and not r.args.no_kdump
    if variant == "iommu-off":
        extra = "iommu=off calgary.expect=off"
    else:
        extra = (f"iommu=calgary calgary={MATRIX_TABLE},disable={dis:#x} calgary.expect=translate "
                 f"calgary.disable={dis:#x} calgary.wrap=1")
        if kdump:
            extra += f" {pl.crashkernel} calgary.kdump=1"
    initrd = kdump_initrd(r, k.path, label) if kdump else r.env["INITRD"]
    append, tool_args = split_cmdline(base_append(f"{common} {extra} {r.args.append}"), k.cmdline_max)
    if tool_args:
        initrd = args_initrd(r, initrd, f"{label}-{variant}", tool_args)
    if kdump and pl.crashkernel == kernels.CRASH_BELOW_INITRD:
        append = append.replace(pl.crashkernel, kernels.crash_region_below_initrd(Path(initrd).stat().st_size,
                                                                                   LOG_BUF_BYTES))
    if k.cmdline_max is not None and len(append) > k.cmdline_max:
        cell.status = "unsupported"
        cell.reason = (f"unsupported: the kernel keeps {k.cmdline_max} characters of its command line; even without "
                       f"the tool's parameters it needs {len(append)}: {append}")
        return cell
    spec = BootSpec(f"{label}/{variant}", k.path, append, initrd, machine,
                    r.matrix_devices(lay), timeout, mem=MATRIX_MEM, chips=MATRIX_CHIPS, kdump=kdump,
                    ram_only_direct_map=pl.ram_only_direct_map)
    log(f"matrix: booting {spec.name} ({machine}, -m {MATRIX_MEM}{', kdump' if kdump else ''}"
        + (f"; the kernel keeps {k.cmdline_max} characters of its command line: tool parameters in "
           f"/calgary.args" if tool_args else "") + ")")
    b = r.boot(spec)
    cell.boot = b
    if b.unsupported:
        cell.status, cell.reason = "unsupported", f"unsupported: {b.unsupported}"
        return cell
    r.verify_disk(b, "nvme-rw", DISK_SEED, DISK_OFF, "nvme-host-verify")
    r.verify_disk(b, "kdump-nvme-rw", CAPTURE_DISK_SEED, CAPTURE_DISK_OFF, "kdump-nvme-host-verify")
    apply_kernel_defects(b)
    cell_stat_checks(b, variant, kdump, lay)
    if variant == "calgary" and not kdump:
        b.checks.append(Check("SKIP", f"{b.name}:kdump", "--no-kdump" if r.args.no_kdump else pl.kdump[1]))
    cell.checks = b.checks
    return cell


def cell_stat_checks(b: Boot, variant: str, kdump: bool, lay: MatrixLayout | None = None) -> None:
    """Cross-check the guest's story with the device model's counters."""
    dis = (lay or MatrixLayout()).disable_bus
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
    if b.passed(f"net-e1000-bus{dis:02x}-tftp") and src:
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


def column(check: str, disable_bus: int = MATRIX_DISABLE_BUS) -> str:
    dis = f"{disable_bus:#04x}"
    if check.startswith(f"kdump-net-e1000-bus{disable_bus:02x}"):
        return "disable"  # the capture kernel's untranslated NIC
    if check.startswith("kdump"):
        return "kdump"
    if check in ("boot", "done", "qmp") or check.startswith("qmp-"):
        return "boot"
    if check in ("kernel-detect", "kernel-init", "kernel-calgary-driver", "rio-table", "phb-buses",
                 "phb-bus-numbering", "kernel-iommu-off"):
        return "detect"
    if check == f"kernel-enable-{dis}" or check.startswith(f"net-e1000-bus{disable_bus:02x}") \
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
    dis = cell.lay.disable_bus
    for c in cell.checks:
        cols[column(c.name[len(prefix):] if c.name.startswith(prefix) else c.name, dis)].append(c.status)
    out = {}
    for c, st in cols.items():
        out[c] = ("FAIL" if "FAIL" in st else "PASS" if "PASS" in st else "skip" if st else "-")
    for c in cell.checks:
        col = column(c.name[len(prefix):] if c.name.startswith(prefix) else c.name, dis)
        if c.reason.startswith("kernel bug") and out[col] != "FAIL":
            out[col] = "kbug"
    return out


def print_matrix(cells: list[Cell], accel: str, cache: str) -> None:
    print(f"# Kernel matrix — accelerator {accel}, -m {MATRIX_MEM}, chips={MATRIX_CHIPS}, "
          f"calgary={MATRIX_TABLE},disable=<chip 1 PHB 0's bus> ({MATRIX_DISABLE_BUS:#x} on the default layout), "
          f"tce-cache={cache}")
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
