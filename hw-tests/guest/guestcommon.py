"""Shared pieces of the guest boot runner (boot.py): where things are, the
matrix layout, the check and boot records, and small helpers.

Python 3.11 stdlib.
"""

from __future__ import annotations

import hashlib
import re
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]

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
# Where each device sits in a matrix boot: role, device, chip, PHB. Its DMA
# goes through that PHB; the bus it plugs into and the bus number depend on
# the machine layout (MatrixLayout below).
MATRIX_ROLES = [
    ("edu", "edu", 0, 0),
    ("e1000", "e1000", 0, 1),
    ("virtio", "virtio-net-pci", 0, 2),
    ("e1000-disabled", "e1000", 1, 0),  # calgary=disable= leaves this PHB untranslated
    ("nvme", "nvme", 1, 1),
]
ROLE_PHB = {role: f"calgary{c}.{p}" for role, _, c, p in MATRIX_ROLES}
# The PHB root-bus numbers of the machine layouts the matrix boots, chip by
# chip, as calgary-core's layout::Platform::phb_bus gives them (rio_phb_bus;
# with bus0-phb=on chip 0 PHB 0 is bus 0; LEGACY_BUSES, LEGACY_BUSES_BUS0).
# The in-guest tool checks every boot against the core itself
# (phb-bus-numbering), so this table cannot drift unnoticed.
LAYOUT_BUSES: dict[tuple[str, str], tuple[tuple[int, ...], ...]] = {
    ("rio", "off"): ((0x20, 0x24, 0x28, 0x2C), (0x30, 0x34, 0x38, 0x3C)),
    ("rio", "on"): ((0x00, 0x24, 0x28, 0x2C), (0x30, 0x34, 0x38, 0x3C)),
    ("legacy", "off"): ((0x01, 0x02, 0x03, 0x04), (0x05, 0x06, 0x07, 0x08)),
    ("legacy", "on"): ((0x00, 0x01, 0x02, 0x03), (0x05, 0x06, 0x07, 0x08)),
}
# A free slot of bus 0 for the device of chip 0 PHB 0 when bus 0 is that
# PHB (the PIIX functions are in slot 1, the VGA in 2, the 82441 in 31).
BUS0_SLOT = 5
# The default machine layout; kernels.ERA_RULES asks for others.
MATRIX_LAYOUT = {"bus0-phb": "off", "layout": "rio"}


@dataclass(frozen=True)
class MatrixLayout:
    """The matrix's devices on one machine layout."""

    layout: str = "rio"
    bus0_phb: str = "off"

    def bus(self, chip: int, phb: int) -> int:
        return LAYOUT_BUSES[(self.layout, self.bus0_phb)][chip][phb]

    def on_bus0(self, chip: int, phb: int) -> bool:
        return self.bus0_phb == "on" and (chip, phb) == (0, 0)

    @property
    def disable_bus(self) -> int:
        return self.bus(*next((c, p) for role, _, c, p in MATRIX_ROLES if role == "e1000-disabled"))

    def devices(self) -> list[tuple[str, str, str, int, str, int]]:
        """(role, device, QOM bus, slot, PHB, bus number) of every matrix device."""
        out = []
        for role, dev, c, p in MATRIX_ROLES:
            qbus, slot = ("pci.0", BUS0_SLOT) if self.on_bus0(c, p) else (f"calgary{c}.{p}", 1)
            out.append((role, dev, qbus, slot, f"calgary{c}.{p}", self.bus(c, p)))
        return out

    def guest_args(self) -> str:
        """What the in-guest tool needs to check the numbering (nothing for the default)."""
        if (self.layout, self.bus0_phb) == (MATRIX_LAYOUT["layout"], MATRIX_LAYOUT["bus0-phb"]):
            return ""
        return f"calgary.layout={self.layout} calgary.bus0_phb={self.bus0_phb}"

    def qemu_args(self) -> list[str]:
        # layout=legacy: the firmware packs the BARs below 0xfec00000 right
        # above the register windows (0xfda00000..); the VGA's 16 MiB
        # framebuffer would reach them, and the machine refuses to start.
        return ["-vga", "none"] if self.layout == "legacy" else []


def matrix_layout(machine: list[tuple[str, str]]) -> tuple[MatrixLayout | None, str]:
    """The layout a kernel's machine properties (kernels.Plan.machine) make,
    or None and why the matrix cannot place its devices there."""
    props = dict(MATRIX_LAYOUT)
    props.update(machine)
    other = sorted(p for p in props if p not in MATRIX_LAYOUT)
    key = (props["layout"], props["bus0-phb"])
    if other or key not in LAYOUT_BUSES:
        what = ", ".join(f"{p}={props[p]}" for p in (other or ["layout", "bus0-phb"]))
        return None, (f"unsupported by the matrix: it knows where its devices sit for layout=rio|legacy with "
                      f"bus0-phb=on|off, not for {what}")
    return MatrixLayout(*key), ""


MATRIX_DISABLE_BUS = MatrixLayout().disable_bus  # 0x30 (chip 1 PHB 0) in the default layout
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
    # the kernel direct-maps only E820 RAM (3.9+), see kernels.FEATURE_SINCE
    ram_only_direct_map: bool = True
    # on_sync(tag, qmp, boot): called at every guest sync point (after the
    # counters were read, before the ack) and with tag "end" at the last
    # QMP look; inject_checks.py arms its faults there.
    on_sync: object = None
    # vCPUs (-smp); smp_checks.py boots with 4
    smp: int = 1


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


def base_append(extra: str) -> str:
    return f"console=ttyS0 iomem=relaxed {RESERVED} panic=-1 {extra}".strip()


def num(stats: dict[str, dict[str, str]], phb: str, prop: str) -> int | None:
    v = stats.get(phb, {}).get(prop, "n/a")
    return int(v) if v.isdigit() else None


def crash_index(b: Boot) -> int:
    """Index of the line where the guest asked for the kdump crash (or the end)."""
    return next((i for i, l in enumerate(b.lines) if "CALGARY-KDUMP" in l), len(b.lines))
