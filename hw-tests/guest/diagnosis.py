"""What a failed check's own kernel log says: known kernel defects (as data,
quoted from the log) and the kdump capture kernel's oops.

Python 3.11 stdlib.
"""

from __future__ import annotations

import re

from guestcommon import Boot, Check, crash_index


# Failures whose cause the kernel's own log names, as data: (check name
# pattern, kernel log pattern with {ifn} for the interface the check used,
# why). Such a FAIL becomes SKIP "kernel bug, not the platform" with the log
# line quoted, only when that line is there.
KERNEL_DEFECTS = [
    # (the first e1000 is net-e1000; the one named by its bus is calgary=disable='s)
    (re.compile(r"(kdump-)?net-e1000-bus[0-9a-f]{2}-dhcp$"),
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
            lines = b.lines[crash_index(b):] if check.startswith("kdump-") else b.lines
            line = next((l for l in lines if rx.search(l)), None)
            if line:
                b.checks[i] = Check("SKIP", c.name, f"kernel bug, not the platform: {why}; kernel log: "
                                                    f"'{line.split(']', 1)[-1].strip()}'; check said: {c.reason}")


def kdump_diagnosis(b: Boot, ram_only_direct_map: bool = True) -> tuple[str, bool]:
    """What the capture kernel's console says when it died: the oops
    location, and whether the faulting address is the direct-map alias of a
    TCE table the crashed kernel left in TAR while that table lies outside
    the capture kernel's own RAM. That is a kernel defect when the kernel
    direct-maps only its E820 RAM (3.9+): no crash region can make the old
    table reachable. An older kernel maps everything below its highest RAM
    address, so a table above that is the crash region's placement (an era
    rule), not the kernel: a FAIL."""
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
                above = bool(usable) and table > max(e for _, e in usable)
                fault_in_driver = not inside and "calgary" in rip
                kernel_bug = kernel_bug or (fault_in_driver and ram_only_direct_map)
                out.append(f"CR2 is the direct-map address (PAGE_OFFSET {base:#x}) of PHB {bus:#x}'s TCE table "
                           f"{table:#x} from TAR, which is {'inside' if inside else 'outside'} the capture "
                           f"kernel's usable RAM [{', '.join(f'{a:#x}-{e:#x}' for a, e in usable)}]: the driver "
                           "reads the crashed kernel's table through __va() (get_tce_space_from_tar, "
                           "calgary_init_bitmap_from_tce_table) and this kernel does not map that memory")
                if fault_in_driver and ram_only_direct_map:
                    out.append("this kernel direct-maps only E820 RAM (Linux 3.9+, 66520ebc2df3 \"x86, mm: Only "
                               "direct map addresses that are marked as E820_RAM\"), and a capture kernel's RAM is "
                               "its crash region: no crashkernel= placement makes the old table reachable")
                elif fault_in_driver:
                    out.append("this kernel maps everything below its highest RAM address"
                               + (", and the table lies above the crash region: the crashkernel= placement "
                                  "(kernels.py ERA_RULES) must put the region above the tables" if above else ""))
    return "; ".join(out), kernel_bug
