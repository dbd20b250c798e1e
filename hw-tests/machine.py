"""Drive the built qemu-system-x86_64 over the qtest and QMP protocols.

A `Machine` starts QEMU under TCG with `-qtest unix:...` (so SeaBIOS really
runs and fills in the EBDA, BARs and ACPI tables) and a QMP socket, and
offers memory/MMIO/port access, QMP commands and a clean shutdown. Every
wait is bounded.
"""

import os
import shutil
import socket
import subprocess
import tempfile
import time

from qmp import Qmp

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
QEMU = os.environ.get("CALGARY_QEMU", os.path.join(REPO, "build", "qemu-system-x86_64"))
# A sanitizer build runs slower (./calgary sanitize sets this to 3).
TIMEOUT_SCALE = float(os.environ.get("CALGARY_TIMEOUT_SCALE", "1"))

BBAR = [0xFEF00000, 0xFF000000, 0xFF100000, 0xFF200000]
PHB_BASE = 0x8000
PHB_STRIDE = 0x1000
CSR, PLSSR, PHB_CONFIG = 0x110, 0x120, 0x160
TCE_ENABLE, SLOT_DISABLE = 0x20000000, 0x1C000000


def bus_of(chip, phb):
    return 0x20 + 4 * (4 * chip + phb)


def stuff_off(phb):
    return 0x4000 + 0x1000 * phb + 0x20


def tar_off(phb):
    return 0x580 + 8 * phb


def phb_reg(phb, off):
    return PHB_BASE + PHB_STRIDE * phb + off


def qemu_available():
    return os.access(QEMU, os.X_OK)


class QtestError(Exception):
    pass


class Machine:
    def __init__(self, machine="calgary", args=(), memory="512M", timeout=30):
        self.dir = tempfile.mkdtemp(prefix="calgary-qtest-")
        self.timeout = timeout * TIMEOUT_SCALE
        qsock = os.path.join(self.dir, "qtest.sock")
        self.qmp_path = os.path.join(self.dir, "qmp.sock")
        self.log_path = os.path.join(self.dir, "qemu.log")
        lsock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        lsock.bind(qsock)
        lsock.listen(1)
        cmd = [QEMU, "-machine", machine, "-accel", "tcg", "-m", memory,
               "-display", "none", "-vga", "none", "-nodefaults", "-no-user-config",
               "-serial", "none", "-monitor", "none",
               "-qtest", "unix:" + qsock,
               "-qmp", "unix:%s,server=on,wait=off" % self.qmp_path,
               "-D", self.log_path, "-d", "guest_errors"] + list(args)
        self.cmd = cmd
        self.stderr = open(os.path.join(self.dir, "stderr"), "w+")
        self.proc = subprocess.Popen(cmd, stdin=subprocess.DEVNULL,
                                     stdout=self.stderr, stderr=subprocess.STDOUT)
        lsock.settimeout(self.timeout)
        try:
            self.sock, _ = lsock.accept()
        except socket.timeout:
            self.close()
            raise QtestError("QEMU did not connect to qtest: " + self.output())
        finally:
            lsock.close()
        self.sock.settimeout(self.timeout)
        self.buf = b""
        self.qmp = None
        self.paused_depth = 0
        self.irq_events = []

    # ---- qtest -------------------------------------------------------
    def _line(self):
        deadline = time.time() + self.timeout
        while b"\n" not in self.buf:
            if time.time() > deadline:
                raise QtestError("qtest timeout")
            chunk = self.sock.recv(65536)
            if not chunk:
                raise QtestError("QEMU closed qtest: " + self.output())
            self.buf += chunk
        line, self.buf = self.buf.split(b"\n", 1)
        return line.decode()

    def cmd_(self, text):
        self.sock.sendall((text + "\n").encode())
        while True:
            line = self._line()
            if line.startswith("IRQ"):
                self.irq_events.append(line)     # after irq_intercept_*
                continue
            if not line.startswith("OK"):
                raise QtestError("%s -> %s" % (text, line))
            return line[3:].strip()

    def read(self, addr, size):
        op = {1: "readb", 2: "readw", 4: "readl", 8: "readq"}[size]
        return int(self.cmd_("%s 0x%x" % (op, addr)), 16)

    def write(self, addr, size, val):
        op = {1: "writeb", 2: "writew", 4: "writel", 8: "writeq"}[size]
        self.cmd_("%s 0x%x 0x%x" % (op, addr, val))

    def readl(self, addr):
        return self.read(addr, 4)

    def writel(self, addr, val):
        self.write(addr, 4, val)

    def readq(self, addr):
        return self.read(addr, 8)

    def writeq(self, addr, val):
        self.write(addr, 8, val)

    def memread(self, addr, size):
        return bytes.fromhex(self.cmd_("read 0x%x 0x%x" % (addr, size))[2:])

    def memwrite(self, addr, data):
        self.cmd_("write 0x%x 0x%x 0x%s" % (addr, len(data), data.hex()))

    def memset(self, addr, size, byte):
        self.cmd_("memset 0x%x 0x%x 0x%x" % (addr, size, byte))

    def outl(self, port, val):
        self.cmd_("outl 0x%x 0x%x" % (port, val))

    def inl(self, port):
        return int(self.cmd_("inl 0x%x" % port), 16)

    def outw(self, port, val):
        self.cmd_("outw 0x%x 0x%x" % (port, val))

    def outb(self, port, val):
        self.cmd_("outb 0x%x 0x%x" % (port, val))

    def clock_step(self, ns=None):
        return self.cmd_("clock_step" + ("" if ns is None else " %d" % ns))

    # Calgary registers are big-endian: a little-endian CPU load (what qtest
    # readl does, like Linux's readl) returns the bytes swapped, and Linux
    # applies be32_to_cpu. Do the same here.
    @staticmethod
    def _swap(val, size):
        return int.from_bytes(val.to_bytes(size, "little"), "big")

    def reg_read(self, chip, off, size=4):
        return self._swap(self.read(BBAR[chip] + off, size), size)

    def reg_write(self, chip, off, val, size=4):
        self.write(BBAR[chip] + off, size, self._swap(val & ((1 << 8 * size) - 1), size))

    # PCI config space through the legacy 0xCF8/0xCFC mechanism. SeaBIOS
    # uses the same two ports, so the guest CPU is paused around each
    # access (qtest I/O works on a stopped VM).
    def paused(self):
        m = self

        class _Paused:
            def __enter__(self):
                self.was = m.paused_depth
                if m.paused_depth == 0:
                    m.qmp_cmd("stop")
                m.paused_depth += 1

            def __exit__(self, *exc):
                m.paused_depth -= 1
                if m.paused_depth == 0:
                    m.qmp_cmd("cont")
        return _Paused()

    def cfg_read(self, bus, devfn, reg):
        with self.paused():
            self.outl(0xCF8, 0x80000000 | bus << 16 | devfn << 8 | (reg & 0xFC))
            return self.inl(0xCFC)

    def cfg_write(self, bus, devfn, reg, val):
        with self.paused():
            self.outl(0xCF8, 0x80000000 | bus << 16 | devfn << 8 | (reg & 0xFC))
            self.outl(0xCFC, val)

    def cfg_write16(self, bus, devfn, reg, val):
        with self.paused():
            self.outl(0xCF8, 0x80000000 | bus << 16 | devfn << 8 | (reg & 0xFC))
            self.outw(0xCFC + (reg & 2), val)

    # ---- QMP ---------------------------------------------------------
    def qmp_cmd(self, execute, /, **arguments):
        if self.qmp is None:
            self.qmp = Qmp(self.qmp_path, timeout=self.timeout)
        try:
            return self.qmp.execute(execute, **arguments)
        except RuntimeError as e:
            raise QtestError(str(e))
        except (OSError, ConnectionError) as e:
            raise QtestError("QMP %s: %s; QEMU said: %s" % (execute, e, self.output()))

    def qom_get(self, path, prop):
        return self.qmp_cmd("qom-get", path=path, property=prop)

    def hmp(self, line):
        return self.qmp_cmd("human-monitor-command", **{"command-line": line})

    # ---- lifecycle ---------------------------------------------------
    def alive(self):
        return self.proc.poll() is None

    def output(self):
        try:
            self.stderr.flush()
            with open(self.stderr.name) as f:
                return f.read()
        except OSError:
            return ""

    def guest_log(self):
        try:
            with open(self.log_path) as f:
                return f.read()
        except OSError:
            return ""

    def close(self):
        for s in (getattr(self, "sock", None), getattr(self, "qmp", None)):
            if s is not None:
                try:
                    s.close()
                except OSError:
                    pass
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(10)
        self.stderr.close()
        shutil.rmtree(self.dir, ignore_errors=True)

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()


def run_qemu(args, timeout=20):
    """Run QEMU to completion (e.g. for option errors); returns (rc, output)."""
    p = subprocess.run([QEMU] + list(args), stdin=subprocess.DEVNULL,
                       stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                       timeout=timeout)
    return p.returncode, p.stdout.decode(errors="replace")
