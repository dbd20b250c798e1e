"""Kernel identification and matrix planning (kernels.py), without QEMU.

The images are synthetic bzImages: a setup header as the x86 boot protocol
lays it out, a version string where `kernel_version` points, and a
compressed payload holding the strings a real kernel carries when a feature
is built in.
"""

from __future__ import annotations

import gzip
import lzma
import os
import struct
import subprocess
import sys
import tempfile
import unittest
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
sys.path.insert(0, str(HERE.parent))
import kernels  # noqa: E402
import boot  # noqa: E402


def bzimage(version: str, payload: bytes, protocol: int = 0x20F, relocatable: bool = True,
            compress: str = "gzip", cmdline_size: int = 2047) -> bytes:
    """A minimal bzImage: 2 setup sectors (boot sector + 1), then the payload."""
    setup_sects = 1
    img = bytearray(512 * (setup_sects + 1))
    img[0x1F1] = setup_sects
    img[0x202:0x206] = b"HdrS"
    struct.pack_into("<H", img, 0x206, protocol)
    vs = version.encode() + b"\0"
    kv_off = 0x100  # string at 0x300: inside the setup sector, after the header
    img[0x200 + kv_off:0x200 + kv_off + len(vs)] = vs
    struct.pack_into("<H", img, 0x20E, kv_off)
    img[0x234] = 1 if relocatable else 0
    struct.pack_into("<I", img, 0x238, cmdline_size)
    blob = gzip.compress(payload, mtime=0) if compress == "gzip" else lzma.compress(payload, format=lzma.FORMAT_XZ)
    pm = bytearray(b"\x90" * 64)  # stand-in for the decompressor stub
    if protocol >= 0x208:
        struct.pack_into("<II", img, 0x248, len(pm), len(blob))
    return bytes(img) + bytes(pm) + blob + struct.pack("<I", len(payload))


def vmlinux(*strings: bytes) -> bytes:
    return b"\0" * 4096 + b"\0".join(strings) + b"\0" * (2 << 20)


CALGARY = b"PCI-DMA: Calgary IOMMU detected."
CALIOC2 = b"DMA error on CalIOC2 PHB 0x%x"
KEXEC = b"crashkernel"
DUMP = b"elfcorehdr"


class Identify(unittest.TestCase):
    def write(self, data: bytes) -> str:
        fd, path = tempfile.mkstemp(prefix="bz-")
        os.write(fd, data)
        os.close(fd)
        self.addCleanup(os.unlink, path)
        return path

    def test_version_from_boot_header(self):
        p = self.write(bzimage("5.4.286 (root@build) #1 SMP", vmlinux(CALGARY, CALIOC2, KEXEC, DUMP)))
        k = kernels.identify(p)
        self.assertEqual(k.version, (5, 4, 286))
        self.assertEqual(k.version_string.split()[0], "5.4.286")
        self.assertEqual(k.compression, "gzip")
        self.assertTrue(k.relocatable)
        self.assertEqual(k.strings, {"calgary": True, "calioc2": True, "kexec": True, "crash-dump": True})

    def test_command_line_size(self):
        # boot protocol 2.06+ states it; before, the limit is 255 characters
        k = kernels.identify(self.write(bzimage("3.10.0", vmlinux(CALGARY), protocol=0x20C, cmdline_size=2047)))
        self.assertEqual(k.cmdline_max, 2047)
        k = kernels.identify(self.write(bzimage("2.6.18", vmlinux(CALGARY), protocol=0x204, cmdline_size=2047)))
        self.assertEqual(k.cmdline_max, 255)

    def test_xz_payload(self):
        p = self.write(bzimage("4.19.108", vmlinux(CALGARY), compress="xz"))
        k = kernels.identify(p)
        self.assertEqual(k.compression, "xz")
        self.assertEqual(k.strings["calgary"], True)
        self.assertEqual(k.strings["calioc2"], False)

    def test_old_protocol_scans_for_gzip(self):
        p = self.write(bzimage("2.6.27.57 (x@y)", vmlinux(CALGARY, KEXEC), protocol=0x207))
        k = kernels.identify(p)
        self.assertEqual(k.version, (2, 6, 27, 57))
        self.assertTrue(k.strings["calgary"])
        self.assertFalse(k.strings["crash-dump"])

    def test_not_a_kernel(self):
        k = kernels.identify(self.write(b"hello" * 100))
        self.assertIsNone(k.version)
        self.assertFalse(k.probed)

    def test_version_strings(self):
        self.assertEqual(kernels.parse_version("3.10.0-1160.el7.x86_64 (mockbuild@)"), (3, 10, 0))
        self.assertEqual(kernels.parse_version("2.6.32.71"), (2, 6, 32, 71))
        self.assertEqual(kernels.parse_version("5.6"), (5, 6))
        self.assertIsNone(kernels.parse_version("Linux"))


class Planning(unittest.TestCase):
    def img(self, version: str, *strings: bytes, relocatable: bool = True) -> kernels.KernelImage:
        k = kernels.KernelImage(path="x", version_string=version, version=kernels.parse_version(version),
                                relocatable=relocatable)
        if strings:
            k.strings = {n: any(s in b"\0".join(strings) for s in needles) for n, needles in kernels.PROBES.items()}
        return k

    def test_modern_kernel(self):
        p = kernels.plan(self.img("5.4.286", CALGARY, CALIOC2, KEXEC, DUMP))
        self.assertEqual(p.machine, [])
        self.assertTrue(p.calgary[0] and p.calioc2[0] and p.kdump[0])
        self.assertTrue(p.virtio_required and p.nvme_required)

    def test_era_machine_properties(self):
        self.assertEqual(kernels.plan(self.img("2.6.22.19")).machine, [("bus0-phb", "on")])
        self.assertEqual(kernels.plan(self.img("2.6.26.8")).machine, [("bus0-phb", "on")])
        self.assertEqual(kernels.plan(self.img("2.6.18")).machine, [("bus0-phb", "on"), ("layout", "legacy")])
        self.assertEqual(kernels.plan(self.img("2.6.19.7")).machine, [("bus0-phb", "on"), ("layout", "legacy")])
        self.assertEqual(kernels.plan(self.img("2.6.27")).machine, [])

    def test_era_command_line(self):
        p = kernels.plan(self.img("2.6.27.57"))
        self.assertEqual((p.append, p.crashkernel), (["nmi_watchdog=0"], "crashkernel=176M@320M"))
        p = kernels.plan(self.img("2.6.32"))
        self.assertEqual((p.append, p.crashkernel), ([], "crashkernel=176M@320M"))
        p = kernels.plan(self.img("3.0.101"))
        self.assertEqual((p.append, p.crashkernel), ([], kernels.CRASH_BELOW_INITRD))
        p = kernels.plan(self.img("3.10.0"))
        self.assertEqual((p.append, p.crashkernel), ([], "crashkernel=192M"))

    def test_crash_region_ends_at_the_moved_initrd(self):
        # 1 GiB cap, 1 MiB log buffer at its top: the initrd (9,397,987 bytes
        # = 2295 pages) moves to [1023 MiB - 2295 pages, 1023 MiB); the region
        # runs from 512 MiB to there (3.0.101: "Move RAMDISK ... to 3f609000").
        s = kernels.crash_region_below_initrd(9_397_987, 1 << 20)
        self.assertEqual(s, "mem=1024M crashkernel=514084K@512M")
        size_k = int(s.split("crashkernel=")[1].split("K@")[0])
        self.assertEqual((512 << 20) + (size_k << 10), 0x3f609000)
        # A page-multiple initramfs leaves no gap either.
        self.assertEqual(kernels.crash_region_below_initrd(4096, 0), "mem=1024M crashkernel=524284K@512M")
        with self.assertRaises(ValueError):
            kernels.crash_region_below_initrd(500 << 20, 1 << 20)

    def test_inject_plan_needs_nvme(self):
        from types import SimpleNamespace

        import inject_checks
        r = SimpleNamespace(props={"inject", "bus0-phb", "layout"})
        ok, why = inject_checks.wanted(r, self.img("2.6.27.57"), kernels.plan(self.img("2.6.27.57")))
        self.assertFalse(ok)
        self.assertIn("nvme", why)
        img = self.img("4.4.178")
        self.assertEqual(inject_checks.wanted(r, img, kernels.plan(img)), (True, ""))

    def test_calioc2_by_version_and_by_image(self):
        self.assertFalse(kernels.plan(self.img("2.6.22")).calioc2[0])
        self.assertIn("no CalIOC2 support", kernels.plan(self.img("2.6.22")).calioc2[1])
        self.assertTrue(kernels.plan(self.img("2.6.23")).calioc2[0])
        # a backport the version does not show: the image decides
        self.assertTrue(kernels.plan(self.img("2.6.18", CALGARY, CALIOC2)).calioc2[0])
        self.assertFalse(kernels.plan(self.img("3.0.101", CALGARY)).calioc2[0])

    def test_devices_by_version(self):
        p = kernels.plan(self.img("3.10.0"))
        self.assertFalse(p.virtio_required)
        self.assertTrue(p.nvme_required)
        p = kernels.plan(self.img("3.2.0"))
        self.assertFalse(p.nvme_required)
        self.assertTrue(kernels.plan(self.img("4.8")).virtio_required)

    def test_kdump_needs(self):
        self.assertFalse(kernels.plan(self.img("2.6.26")).kdump[0])
        self.assertTrue(kernels.plan(self.img("2.6.27")).kdump[0])
        self.assertIn("CONFIG_CRASH_DUMP", kernels.plan(self.img("4.4.178", CALGARY, KEXEC)).kdump[1])
        self.assertFalse(kernels.plan(self.img("5.4", CALGARY, KEXEC, DUMP, relocatable=False)).kdump[0])
        # the capture kernel's direct map: all below its top RAM address before 3.9, E820 RAM only after
        self.assertFalse(kernels.plan(self.img("3.8.13")).ram_only_direct_map)
        self.assertFalse(kernels.plan(self.img("2.6.32")).ram_only_direct_map)
        self.assertTrue(kernels.plan(self.img("3.9")).ram_only_direct_map)
        self.assertTrue(kernels.plan(self.img("3.10.0")).ram_only_direct_map)

    def test_no_driver(self):
        self.assertFalse(kernels.plan(self.img("6.1.0")).calgary[0])
        self.assertFalse(kernels.plan(self.img("5.4.0", KEXEC)).calgary[0])
        self.assertTrue(kernels.plan(self.img("5.6.19")).calgary[0])

    def test_kernel_list(self):
        self.assertEqual(kernels.kernel_list(None, "/a/bz:/b/bz"), ["/a/bz", "/b/bz"])
        self.assertEqual(kernels.kernel_list(["/x"], "/a/bz"), ["/x"])
        self.assertEqual(kernels.kernel_list(None, None), [])


class Runner(unittest.TestCase):
    def test_newc_archive_lists_with_cpio(self):
        data = boot.newc([("kdump", 0o040755, b""), ("kdump/vmlinuz", 0o100644, b"abc" * 333),
                          ("kdump/initrd.gz", 0o100644, b"")])
        p = subprocess.run(["cpio", "-it", "--quiet"], input=data, capture_output=True)
        self.assertEqual(p.returncode, 0, p.stderr)
        self.assertEqual(p.stdout.decode().split(), ["kdump", "kdump/vmlinuz", "kdump/initrd.gz"])
        with tempfile.TemporaryDirectory() as d:
            subprocess.run(["cpio", "-id", "--quiet"], input=data, cwd=d, check=True)
            self.assertEqual(Path(d, "kdump/vmlinuz").read_bytes(), b"abc" * 333)

    def test_matrix_columns(self):
        self.assertEqual(boot.column("kernel-enable-0x30"), "disable")
        self.assertEqual(boot.column("net-e1000-bus30-tftp"), "disable")
        self.assertEqual(boot.column("kernel-enable-0x24"), "enable")
        self.assertEqual(boot.column("net-e1000-tftp"), "e1000")
        self.assertEqual(boot.column("flush-on-wrap"), "wrap+flush")
        self.assertEqual(boot.column("kdump-table-reuse"), "kdump")
        self.assertEqual(boot.column("stats-calgary1.1"), "nvme")
        self.assertEqual(boot.column("modules-load"), "other")

    def test_cell_columns(self):
        k = kernels.KernelImage(path="x", version_string="4.4.178", version=(4, 4, 178))
        b = boot.Boot("4.4.178/calgary")
        for name, st, why in [("boot", "PASS", ""), ("net-virtio", "SKIP", "optional"),
                              ("flush-on-wrap", "FAIL", ""), ("kdump-load", "PASS", ""),
                              ("kdump-capture-boot", "SKIP", "kernel bug, not the platform: ...")]:
            b.checks.append(boot.Check(st, f"{b.name}:{name}", why))
        cols = boot.cell_columns(boot.Cell(k, "4.4.178", "calgary", boot=b, checks=b.checks))
        self.assertEqual((cols["boot"], cols["virtio"], cols["wrap+flush"], cols["kdump"], cols["errant"]),
                         ("PASS", "skip", "FAIL", "kbug", "-"))

    def capture_oops(self, usable_end: int) -> "boot.Boot":
        b = boot.Boot("k/calgary")
        b.lines = [
            "CALGARY-INFO kdump-load ok calgary.prev_tar=20:0000000002920000,24:0000000002930000",
            "CALGARY-KDUMP crashing now",
            "[    0.000000] Linux version 9.9.9 (capture)",
            "[    0.000000] BIOS-e820: [mem 0x0000000000001000-0x000000000009ffff] usable",
            f"[    0.000000] BIOS-e820: [mem 0x0000000001000000-{usable_end:#018x}] usable",
            "[    1.000000] BUG: unable to handle page fault for address: ffff888002930000",
            "[    1.000000] RIP: 0010:calgary_iommu_init+0x2e8/0x4f0",
            "[    1.000000] CR2: ffff888002930000 CR3: 0000000001c0a000",
        ]
        return b

    def test_kdump_diagnosis_by_direct_map_era(self):
        # 3.9+: only E820 RAM is mapped; a table outside the crash region is a kernel defect
        diag, bug = boot.kdump_diagnosis(self.capture_oops(0x1FFFFFF), ram_only_direct_map=True)
        self.assertTrue(bug)
        self.assertIn("PHB 0x24's TCE table 0x2930000", diag)
        self.assertIn("66520ebc2df3", diag)
        # before 3.9 a table above the capture kernel's RAM is the region's placement: not kbug
        diag, bug = boot.kdump_diagnosis(self.capture_oops(0x1FFFFFF), ram_only_direct_map=False)
        self.assertFalse(bug)
        self.assertIn("must put the region above the tables", diag)
        # a fault outside any TAR table is never diagnosed as the table
        b = self.capture_oops(0x1FFFFFF)
        b.lines[-1] = "[    1.000000] CR2: ffff888012345678 CR3: 0000000001c0a000"
        diag, bug = boot.kdump_diagnosis(b, ram_only_direct_map=True)
        self.assertFalse(bug)
        self.assertNotIn("TCE table", diag)

    def fake_runner(self, props=("bus0-phb", "layout", "chips", "variant")):
        """A runner whose boot() records the spec instead of starting QEMU."""
        from types import SimpleNamespace
        import qemuboot
        d = Path(tempfile.mkdtemp(prefix="matrix-"))
        self.addCleanup(lambda: [p.unlink() for p in d.iterdir()] and None or d.rmdir())
        base = d / "initrd.gz"
        base.write_bytes(gzip.compress(boot.newc([("init", 0o100755, b"#!/bin/sh\n")]), mtime=0))
        specs = []

        class Fake:
            matrix_devices = qemuboot.Runner.matrix_devices

            def boot(self, spec):
                specs.append(spec)
                return boot.Boot(spec.name, unsupported="recorded, not booted")
        r = Fake()
        r.props, r.tmp, r.env, r.blob_md5 = set(props), d, {"INITRD": str(base)}, "0" * 32
        r.args = SimpleNamespace(cache="faithful", no_kdump=False, append="")
        return r, specs

    @staticmethod
    def device(spec, name):
        return [spec.devices[i + 1] for i, a in enumerate(spec.devices)
                if a == "-device" and spec.devices[i + 1].startswith(name + ",")]

    def test_bus0_phb_era_in_the_matrix(self):
        r, specs = self.fake_runner()
        k = kernels.KernelImage(path="x", version_string="2.6.24", version=(2, 6, 24), cmdline_max=2047)
        boot.matrix_cell(r, k, kernels.plan(k), "2.6.24", "calgary", 1.0)
        (spec,) = specs
        self.assertIn(",bus0-phb=on", spec.machine)
        self.assertNotIn("layout=", spec.machine)
        # chip 0 PHB 0 is bus 0: its device goes into a free slot of bus 0
        self.assertEqual(self.device(spec, "edu"), ["edu,bus=pci.0,addr=5,dma_mask=0xffffffff"])
        e1000 = self.device(spec, "e1000")
        self.assertTrue(e1000[0].startswith("e1000,bus=calgary0.1,addr=1,"), e1000)
        self.assertTrue(e1000[1].startswith("e1000,bus=calgary1.0,addr=1,"), e1000)
        self.assertNotIn("-vga", spec.devices)
        # the Rio layout's chip 1 PHB 0 stays bus 0x30; the tool is told the layout
        self.assertIn(" calgary=64k,disable=0x30 ", spec.append)
        self.assertIn("calgary.layout=rio calgary.bus0_phb=on", spec.append)
        self.assertEqual(spec.initrd, r.env["INITRD"])
        # a kernel of the default layout: no layout parameters, devices on the PHB buses
        k5 = kernels.KernelImage(path="x", version_string="5.4.286", version=(5, 4, 286), cmdline_max=2047)
        boot.matrix_cell(r, k5, kernels.plan(k5), "5.4.286", "calioc2", 1.0)
        self.assertNotIn("calgary.layout", specs[1].append)
        self.assertEqual(self.device(specs[1], "edu"), ["edu,bus=calgary0.0,addr=1,dma_mask=0xffffffff"])

    def test_legacy_era_in_the_matrix(self):
        r, specs = self.fake_runner()
        k = kernels.KernelImage(path="x", version_string="2.6.18", version=(2, 6, 18), cmdline_max=255)
        cell = boot.matrix_cell(r, k, kernels.plan(k), "2.6.18", "calgary", 1.0)
        (spec,) = specs
        self.assertIn(",bus0-phb=on,layout=legacy", spec.machine)
        self.assertEqual(self.device(spec, "edu"), ["edu,bus=pci.0,addr=5,dma_mask=0xffffffff"])
        self.assertEqual(spec.devices[:2], ["-vga", "none"])  # BARs clear of the legacy windows
        # chip 1 PHB 0 is bus 5 in the legacy layout
        self.assertEqual(cell.lay.disable_bus, 5)
        self.assertIn("iommu=calgary calgary=64k,disable=0x5", spec.append)
        # 255 characters: the tool's parameters move into the initramfs
        self.assertLessEqual(len(spec.append), 255)
        self.assertNotIn("calgary.", spec.append)
        self.assertIn("nmi_watchdog=0", spec.append)
        self.assertIn("memmap=64M$0x10000000", spec.append)
        raw = Path(spec.initrd).read_bytes()
        base = Path(r.env["INITRD"]).read_bytes()
        self.assertEqual(raw[:len(base)], base)
        args = gzip.decompress(raw[len(base):])
        self.assertIn(b"calgary.args", args)
        for tok in (b"calgary.suite=kernel", b"calgary.layout=legacy", b"calgary.bus0_phb=on",
                    b"calgary.disable=0x5", b"calgary.expect=translate", b"calgary.optional=virtio,nvme"):
            self.assertIn(tok, args)
        # CalIOC2 is n/a before 2.6.23
        cell = boot.matrix_cell(r, k, kernels.plan(k), "2.6.18", "calioc2", 1.0)
        self.assertEqual((cell.status, cell.reason[:19]), ("n/a", "no CalIOC2 support "))
        self.assertEqual(len(specs), 1)

    def test_command_line_split(self):
        line = "console=ttyS0 calgary=64k,disable=0x5 calgary.suite=kernel calgary.wrap=1"
        self.assertEqual(boot.split_cmdline(line, None), (line, ""))
        self.assertEqual(boot.split_cmdline(line, 2047), (line, ""))
        self.assertEqual(boot.split_cmdline(line, 40),
                         ("console=ttyS0 calgary=64k,disable=0x5", "calgary.suite=kernel calgary.wrap=1"))

    def test_unplaceable_machine_is_unsupported(self):
        r, specs = self.fake_runner(props=("bus0-phb", "layout", "chips", "variant", "numa"))
        k = kernels.KernelImage(path="x", version_string="2.6.24", version=(2, 6, 24))
        pl = kernels.plan(k)
        pl.machine.append(("numa", "on"))
        cell = boot.matrix_cell(r, k, pl, "2.6.24", "calgary", 1.0)
        self.assertEqual(cell.status, "unsupported")
        self.assertIn("unsupported by the matrix", cell.reason)
        self.assertIn("numa=on", cell.reason)
        self.assertEqual(specs, [])
        lay, why = boot.matrix_layout([("layout", "x366")])
        self.assertIsNone(lay)
        self.assertIn("layout=x366", why)
        # a QEMU without the property: named as the machine's lack
        r, specs = self.fake_runner(props=())
        cell = boot.matrix_cell(r, k, kernels.plan(k), "2.6.24", "calgary", 1.0)
        self.assertIn("machine lacks bus0-phb=on", cell.reason)
        self.assertEqual(specs, [])

    def test_matrix_placement_per_layout(self):
        from guestcommon import MatrixLayout, ROLE_PHB
        rows = {role: (qbus, slot, phb, bus) for role, _, qbus, slot, phb, bus in MatrixLayout().devices()}
        self.assertEqual(rows["edu"], ("calgary0.0", 1, "calgary0.0", 0x20))
        self.assertEqual(rows["nvme"], ("calgary1.1", 1, "calgary1.1", 0x34))
        rows = {role: (qbus, slot, bus) for role, _, qbus, slot, _, bus in MatrixLayout("legacy", "on").devices()}
        self.assertEqual(rows["edu"], ("pci.0", 5, 0))
        self.assertEqual(rows["e1000"], ("calgary0.1", 1, 1))
        self.assertEqual(rows["e1000-disabled"], ("calgary1.0", 1, 5))
        self.assertEqual(MatrixLayout("legacy", "off").disable_bus, 5)
        self.assertEqual(MatrixLayout("rio", "on").bus(0, 0), 0)
        self.assertEqual(ROLE_PHB["e1000-disabled"], "calgary1.0")
        # the disabled PHB's checks land in the disable column whatever its bus
        self.assertEqual(boot.column("kernel-enable-0x05", 5), "disable")
        self.assertEqual(boot.column("net-e1000-bus05-tftp", 5), "disable")
        self.assertEqual(boot.column("kernel-enable-0x05"), "enable")

    def test_machine_property_parsing(self):
        out = ("calgary-machine options:\n  acpi=<OnOffAuto>      - Enable ACPI\n"
               "  chips=<uint32>         - number of Calgary chips (0-4)\n"
               "  variant=<string>       - chip variant\n")
        with tempfile.TemporaryDirectory() as d:
            fake = Path(d, "qemu")
            fake.write_text(f"#!/bin/sh\ncat <<'EOF'\n{out}EOF\n")
            fake.chmod(0o755)
            self.assertEqual(boot.machine_properties(str(fake)), {"acpi", "chips", "variant"})


if __name__ == "__main__":
    unittest.main()
