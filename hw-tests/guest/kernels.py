"""Identify a user-given Linux kernel image and plan its matrix boots.

A kernel is identified from its own bytes, never from its file name:

- the version string the x86 boot protocol points at (`kernel_version` at
  0x20E in the setup header: the string sits at that value + 0x200), or, for
  an uncompressed image, the `Linux version ...` banner;
- its compressed payload (gzip, xz, lzma, bzip2: what Python's standard
  library can decompress), searched for strings that only exist when a
  feature was built in (the Calgary driver's own messages, the CalIOC2
  names, `crashkernel` and `elfcorehdr` for kexec / crash dump).

What the platform must look like for a kernel, and what the kernel can be
expected to do, is a table of rules by version (ERA_RULES below, from
../shared/spec/linux-driver-history.md). A probe of the image, when one
was possible, overrides a version rule for features the image reveals
(an enterprise kernel may carry a backport its version number does not
show).
"""

from __future__ import annotations

import bz2
import lzma
import re
import struct
import zlib
from dataclasses import dataclass, field
from pathlib import Path

Version = tuple[int, ...]


# --------------------------------------------------------------- version rules
@dataclass(frozen=True)
class Rule:
    """One row of the era table: applies to versions first..=last."""

    name: str
    first: Version
    last: Version | None
    machine: tuple[tuple[str, str], ...] = ()  # machine properties to pass
    append: str = ""                           # kernel command line to add
    crashkernel: str = ""                      # the kdump reservation, if not the default
    why: str = ""


# A crashkernel value computed at boot time from the initramfs' size
# (crash_region_below_initrd).
CRASH_BELOW_INITRD = "crashkernel=below-initrd"
CRASH_CAP_MIB = 1024
CRASH_BASE_MIB = 512
PAGE = 4096


def crash_region_below_initrd(initrd_size: int, log_buf: int, cap_mib: int = CRASH_CAP_MIB,
                              base_mib: int = CRASH_BASE_MIB) -> str:
    """`mem=` and `crashkernel=` for a 2.6.35-3.8 kernel. With RAM capped at
    cap_mib, setup_arch allocates the `log_buf_len=` buffer first (top-down,
    at [cap - log_buf, cap)), then relocate_initrd moves QEMU's initrd right
    below it, [top - PAGE_ALIGN(size), top); the crash region fills
    [base, that start) exactly (a crashkernel=size@base reservation must be
    free in full), leaving no free page above it. Measured on 3.0.101 with
    memblock=debug."""
    cap = cap_mib << 20
    top = cap - log_buf
    start = top - (initrd_size + PAGE - 1) // PAGE * PAGE
    base = base_mib << 20
    if start - base < 64 << 20:
        raise ValueError(f"initramfs of {initrd_size} bytes leaves {(start - base) >> 20} MiB for the crash region")
    return f"mem={cap_mib}M crashkernel={(start - base) >> 10}K@{base_mib}M"


# Machine properties by era. The properties come from the platform work on
# bus 0 and the 2.6.18/19 layout; a QEMU that does not offer one makes the
# runner report that kernel as unsupported, never as passed.
ERA_RULES: list[Rule] = [
    Rule("bus0-behind-calgary", (2, 6, 18), (2, 6, 26), machine=(("bus0-phb", "on"),),
         why="<= 2.6.26 installs Calgary DMA ops for every device, bus 0 included"),
    Rule("legacy-layout", (2, 6, 18), (2, 6, 19), machine=(("layout", "legacy"),),
         why="2.6.18/2.6.19 have no Rio table: PHBs at devfn 0, BBAR from the bus number"),
    # Not about Calgary: with the IO-APIC NMI watchdog these kernels turn the
    # local APIC timer into a dummy under TCG ("lapic is not functional"),
    # timers run late and e1000's link-up and DHCP time out, IOMMU or not.
    Rule("nmi-watchdog-off", (2, 6, 18), (2, 6, 31), append="nmi_watchdog=0",
         why="the IO-APIC NMI watchdog stalls the local APIC timer under TCG"),
    # kdump: the capture kernel reads the crashed kernel's TCE tables through
    # the direct map. Up to 2.6.34 the tables come from bootmem, bottom-up
    # (low memory), and the capture kernel maps everything below its highest
    # RAM address: a crash region above the tables lets it reach them. The
    # region must also start below 512 MiB: 2.6.32's capture kernel looks for
    # its early page tables only between 0x8000 and the 512 MiB the boot
    # mapping covers (find_early_table_space), and with a region at 512 MiB
    # it panics before its console ("Cannot find space for the kernel page
    # tables", seen with earlyprintk). 320 MiB is the first address above the
    # runner's reserved memmap=64M$0x10000000 window.
    Rule("kdump-region-high", (2, 6, 27), (2, 6, 34), crashkernel="crashkernel=176M@320M",
         why="capture kernel maps [0, end of its RAM) and builds its early page tables below 512 MiB: "
             "crash region above the low TCE tables, below 512 MiB"),
    # 2.6.35-3.8: bootmem is memblock, which allocates top-down: the TCE
    # tables land in the highest free RAM below 4 GiB. The capture kernel
    # maps [0, end of its RAM) (the tables must lie below the region's end)
    # but, until its own page tables are up, only the first GiB (head_64.S
    # level2_ident_pgt), where kexec-tools puts the boot parameters at the
    # top of the region; and kexec-tools loads a boot-protocol < 2.12 bzImage
    # below 896 MiB. Measured on 3.0.101 (memblock=debug): before the
    # reservation only the initrd sits high. So the kernel is given 1 GiB
    # (mem=1024M: the log buffer, then QEMU's initrd, move to the top of that
    # GiB) and the region ends exactly where the moved initrd begins
    # (crash_region_below_initrd):
    # nothing is free above the region, so the tables go below its start.
    Rule("kdump-region-below-initrd", (2, 6, 35), (3, 8), crashkernel=CRASH_BELOW_INITRD,
         why="memblock puts the TCE tables in the highest free RAM and the capture kernel maps only its first GiB "
             "early: mem=1024M, crash region from 512 MiB up to the moved initrd, tables below it"),
]
DEFAULT_CRASHKERNEL = "crashkernel=192M"

# Features by version (first version that has it).
FEATURE_SINCE: dict[str, tuple[Version, str]] = {
    "calgary": ((2, 6, 18), "the Calgary driver exists from 2.6.18 to 5.6"),
    "calioc2": ((2, 6, 23), "the driver knows CalIOC2 (1014:0308) from 2.6.23"),
    "kdump": ((2, 6, 27), "the driver reuses the crashed kernel's table (get_tce_space_from_tar) from 2.6.27"),
    "nvme": ((3, 3), "the nvme driver arrived in 3.3"),
    "virtio-iommu": ((4, 8), "virtio uses the DMA API only with VIRTIO_F_IOMMU_PLATFORM, from 4.8"),
    # Before 3.9 x86-64 direct-maps [0, highest RAM address) whatever the
    # E820 types; 3.9 (66520ebc2df3 "x86, mm: Only direct map addresses that
    # are marked as E820_RAM") maps E820 RAM only, and a capture kernel's RAM
    # is its crash region: the crashed kernel's TCE tables are never mapped.
    "ram-only-direct-map": ((3, 9), "from 3.9 Linux direct-maps only E820 RAM (66520ebc2df3), so a capture "
                                    "kernel cannot reach the crashed kernel's TCE tables through __va()"),
}
CALGARY_LAST: Version = (5, 6)


def parse_version(s: str) -> Version | None:
    """'2.6.32.71 (user@host) #1 SMP' -> (2, 6, 32, 71); '5.4.0-rc1' -> (5, 4, 0)."""
    m = re.match(r"\s*(\d+)\.(\d+)(?:\.(\d+))?(?:\.(\d+))?", s)
    if not m:
        return None
    return tuple(int(g) for g in m.groups() if g is not None)


def vstr(v: Version | None) -> str:
    return ".".join(map(str, v)) if v else "unknown"


def in_range(v: Version, first: Version, last: Version | None) -> bool:
    # Compare on the shared prefix length so that (2, 6, 26, 8) <= (2, 6, 26).
    n = len(last) if last else 0
    return v >= first and (last is None or v[:n] <= last)


# --------------------------------------------------------------- image probing
@dataclass
class KernelImage:
    path: str
    version_string: str = ""
    version: Version | None = None
    protocol: int = 0
    # Longest command line the kernel keeps (setup header cmdline_size from
    # boot protocol 2.06; 255 before, e.g. x86-64 2.6.18's 256-byte buffer);
    # None when the image has no setup header.
    cmdline_max: int | None = None
    relocatable: bool | None = None
    compression: str = ""
    probe_error: str = ""
    strings: dict[str, bool] = field(default_factory=dict)

    @property
    def probed(self) -> bool:
        return bool(self.strings)

    @property
    def label(self) -> str:
        return vstr(self.version)


PROBES = {
    "calgary": [b"Calgary IOMMU detected", b"Calgary: detecting Calgary"],
    "calioc2": [b"CalIOC2"],
    "kexec": [b"crashkernel"],
    "crash-dump": [b"elfcorehdr"],
}

MAGICS = [
    ("gzip", b"\x1f\x8b\x08"),
    ("xz", b"\xfd7zXZ\x00"),
    ("bzip2", b"BZh"),
    ("lzma", b"\x5d\x00\x00"),
]
UNSUPPORTED_MAGICS = [("lz4", b"\x02\x21\x4c\x18"), ("zstd", b"\x28\xb5\x2f\xfd"), ("lzo", b"\x89LZO")]


def _decompress(kind: str, data: bytes, limit: int = 256 << 20) -> bytes:
    if kind == "gzip":
        d = zlib.decompressobj(16 + zlib.MAX_WBITS)
        return d.decompress(data, limit)
    if kind == "xz":
        return lzma.LZMADecompressor(lzma.FORMAT_XZ).decompress(data, limit)
    if kind == "lzma":
        return lzma.LZMADecompressor(lzma.FORMAT_ALONE).decompress(data, limit)
    if kind == "bzip2":
        return bz2.BZ2Decompressor().decompress(data)
    raise ValueError(kind)


def _payload(raw: bytes) -> tuple[str, bytes] | None:
    """The decompressed kernel of a bzImage, or None."""
    if len(raw) < 0x250 or raw[0x202:0x206] != b"HdrS":
        return None
    proto = struct.unpack_from("<H", raw, 0x206)[0]
    setup_sects = raw[0x1F1] or 4
    pm = (setup_sects + 1) * 512
    if proto >= 0x208:
        off, length = struct.unpack_from("<II", raw, 0x248)
        blob = raw[pm + off:pm + off + length]
        for kind, magic in MAGICS:
            if blob.startswith(magic):
                return kind, _decompress(kind, blob)
        for kind, magic in UNSUPPORTED_MAGICS:
            if blob.startswith(magic):
                raise ValueError(f"{kind}-compressed payload (no decompressor in the Python standard library)")
        raise ValueError(f"unknown payload magic {blob[:4].hex()}")
    # Before protocol 2.08 there is no payload pointer: the gzip stream
    # follows the decompressor code somewhere after the setup sectors.
    pos = pm
    while True:
        pos = raw.find(b"\x1f\x8b\x08\x00", pos)
        if pos < 0:
            return None
        try:
            out = _decompress("gzip", raw[pos:])
            if len(out) > (1 << 20):
                return "gzip", out
        except zlib.error:
            pass
        pos += 1


def identify(path: str) -> KernelImage:
    k = KernelImage(path=path)
    try:
        raw = Path(path).read_bytes()
    except OSError as e:
        k.probe_error = str(e)
        return k
    if len(raw) >= 0x250 and raw[0x202:0x206] == b"HdrS":
        k.protocol = struct.unpack_from("<H", raw, 0x206)[0]
        kv = struct.unpack_from("<H", raw, 0x20E)[0]
        if kv:
            s = raw[kv + 0x200:kv + 0x200 + 256].split(b"\0", 1)[0]
            k.version_string = s.decode("ascii", "replace")
        if k.protocol >= 0x205:
            k.relocatable = bool(raw[0x234])
        k.cmdline_max = (struct.unpack_from("<I", raw, 0x238)[0] or None) if k.protocol >= 0x206 else 255
    image = b""
    try:
        p = _payload(raw)
        if p:
            k.compression, image = p
    except (ValueError, lzma.LZMAError, zlib.error, OSError, EOFError) as e:
        k.probe_error = str(e)
    hay = image or (raw if raw[:4] == b"\x7fELF" else b"")
    if not k.version_string:
        m = re.search(rb"Linux version (\S+)", hay or raw)
        if m:
            k.version_string = m.group(1).decode("ascii", "replace")
    if hay:
        k.strings = {name: any(n in hay for n in needles) for name, needles in PROBES.items()}
    elif not k.probe_error:
        k.probe_error = "no decompressible payload"
    k.version = parse_version(k.version_string) if k.version_string else None
    return k


# --------------------------------------------------------------- the plan
@dataclass
class Plan:
    """What to boot for one kernel and what to expect of it."""

    machine: list[tuple[str, str]] = field(default_factory=list)
    machine_why: list[str] = field(default_factory=list)
    append: list[str] = field(default_factory=list)
    crashkernel: str = DEFAULT_CRASHKERNEL
    calgary: tuple[bool, str] = (True, "")
    calioc2: tuple[bool, str] = (True, "")
    kdump: tuple[bool, str] = (True, "")
    nvme_required: bool = True
    virtio_required: bool = True
    ram_only_direct_map: bool = True
    notes: list[str] = field(default_factory=list)


def has(v: Version | None, feature: str) -> bool | None:
    if v is None:
        return None
    return v >= FEATURE_SINCE[feature][0]


def plan(k: KernelImage) -> Plan:
    p = Plan()
    v = k.version
    if v is not None:
        for r in ERA_RULES:
            if in_range(v, r.first, r.last):
                p.machine.extend(r.machine)
                if r.machine:
                    p.machine_why.append(f"{r.name}: {r.why}")
                if r.append:
                    p.append.append(r.append)
                    p.notes.append(f"{r.append} ({r.why})")
                if r.crashkernel:
                    p.crashkernel = r.crashkernel
                    p.notes.append(f"{r.crashkernel} ({r.why})")
    # The Calgary driver itself.
    if k.probed and not k.strings.get("calgary"):
        p.calgary = (False, "the image has no Calgary driver messages (build with CONFIG_CALGARY_IOMMU=y, Linux 2.6.18-5.6)")
    elif v is not None and (v < FEATURE_SINCE["calgary"][0] or v[:2] > CALGARY_LAST):
        p.calgary = (False, f"Linux {vstr(v)} has no Calgary driver ({FEATURE_SINCE['calgary'][1]})")
    # CalIOC2: the image says it, else the version does.
    if k.probed:
        ok = bool(k.strings.get("calioc2"))
        p.calioc2 = (ok, "image carries the CalIOC2 code" if ok else
                     "no CalIOC2 support: the driver in this image does not know 1014:0308")
    elif has(v, "calioc2") is False:
        p.calioc2 = (False, f"no CalIOC2 support ({FEATURE_SINCE['calioc2'][1]})")
    # kdump: version, then what the image was built with.
    if has(v, "kdump") is False:
        p.kdump = (False, f"not before 2.6.27 ({FEATURE_SINCE['kdump'][1]})")
    elif k.probed and not (k.strings.get("kexec") and k.strings.get("crash-dump")):
        miss = [n for n, c in (("CONFIG_KEXEC", "kexec"), ("CONFIG_CRASH_DUMP", "crash-dump")) if not k.strings.get(c)]
        p.kdump = (False, f"the image lacks {' and '.join(miss)}")
    elif k.relocatable is False:
        p.kdump = (False, "the image is not relocatable (CONFIG_RELOCATABLE): kexec -p cannot load it as capture kernel")
    p.nvme_required = has(v, "nvme") is not False
    p.ram_only_direct_map = has(v, "ram-only-direct-map") is not False
    p.virtio_required = has(v, "virtio-iommu") is not False
    if not p.nvme_required:
        p.notes.append(f"nvme optional: {FEATURE_SINCE['nvme'][1]}")
    if not p.virtio_required:
        p.notes.append(f"virtio-net optional: {FEATURE_SINCE['virtio-iommu'][1]}; e1000 and nvme carry the DMA")
    if not k.probed:
        p.notes.append(f"image not probed ({k.probe_error}); features from the version alone")
    return p


def kernel_list(args_kernels: list[str] | None, env: str | None) -> list[str]:
    """--kernel A --kernel B, else CALGARY_GUEST_KERNEL=A:B."""
    if args_kernels:
        return list(args_kernels)
    if env:
        return [p for p in env.split(":") if p]
    return []
