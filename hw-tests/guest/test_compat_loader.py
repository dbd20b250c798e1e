"""guest-images/compat-loader.c on the host: its loading and tracing paths.

Old guest kernels (before 2.6.29 / 2.6.39) lack AT_RANDOM / AT_EMPTY_PATH,
which glibc 2.36 programs need; the loader supplies the first and rewrites
fstat calls for the second. This host has both, so the test forces each
path (CALGARY_COMPAT_FORCE) and checks that programs of all three kinds the
initramfs holds — static, static-pie, dynamically linked PIE — run through
it: the right output, the program really loaded by the loader (its
/proc/self/exe is the loader), the fstat calls of opendir() rewritten.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import tempfile
import unittest
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
SRC = REPO / "guest-images" / "compat-loader.c"

PROGRAM = r"""
#include <dirent.h>
#include <stdio.h>
#include <sys/auxv.h>
#include <unistd.h>
int main(int argc, char **argv) {
    char exe[512] = "";
    int n = 0;
    DIR *d = opendir(argc > 1 ? argv[1] : "/");
    if (!d) { perror("opendir"); return 3; }
    while (readdir(d)) n++;
    closedir(d);
    if (readlink("/proc/self/exe", exe, sizeof exe - 1) < 0) return 4;
    printf("argv0=%s entries=%d random=%d exe=%s\n", argv[0], n, getauxval(AT_RANDOM) != 0, exe);
    return 7;
}
"""


# The 2.6.27 descriptor flags: pipe2, dup3, socket type flags. Prints each
# descriptor's FD_CLOEXEC and O_NONBLOCK as the kernel reports them, and
# sends a byte through the pipe.
FLAGS_PROGRAM = r"""
#define _GNU_SOURCE
#include <fcntl.h>
#include <stdio.h>
#include <sys/socket.h>
#include <unistd.h>
static void show(const char *what, int fd) {
    printf("%s=%d:%d:%d ", what, fd >= 0, (fcntl(fd, F_GETFD) & FD_CLOEXEC) != 0,
           (fcntl(fd, F_GETFL) & O_NONBLOCK) != 0);
}
int main(void) {
    int a[2], b[2];
    char c = 0;
    if (pipe2(a, O_CLOEXEC | O_NONBLOCK) || pipe2(b, 0)) { perror("pipe2"); return 3; }
    show("p0", a[0]); show("p1", a[1]); show("q0", b[0]);
    show("dup3", dup3(b[1], 20, O_CLOEXEC));
    show("sock", socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0));
    show("plain", socket(AF_UNIX, SOCK_STREAM, 0));
    show("dupfd", fcntl(b[0], F_DUPFD_CLOEXEC, 30));
    show("dupfd0", fcntl(b[0], F_DUPFD, 40));
    if (write(20, "x", 1) != 1 || read(b[0], &c, 1) != 1) return 4;
    printf("byte=%c\n", c);
    return 7;
}
"""


@unittest.skipUnless(shutil.which("gcc"), "gcc not found")
class CompatLoader(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.tmp = Path(tempfile.mkdtemp(prefix="compat-loader-"))
        real = cls.tmp / "real"
        real.mkdir()
        (cls.tmp / "prog.c").write_text(PROGRAM)
        (cls.tmp / "listme").mkdir()
        for f in ("a", "b", "c"):
            (cls.tmp / "listme" / f).write_text(f)
        cls.loader = cls.tmp / "loader"
        subprocess.run(["gcc", "-Os", "-static", "-nostdlib", "-ffreestanding", "-fno-stack-protector",
                        "-fno-pie", "-no-pie", "-fno-asynchronous-unwind-tables", "-Wall", "-Wextra",
                        "-Werror", "-Wl,-Ttext-segment=0x20000000", f'-DREAL_DIR="{real}/"',
                        "-o", str(cls.loader), str(SRC)], check=True)
        cls.kinds = {}
        for name, flags in (("static", ["-static"]), ("staticpie", ["-static-pie"]), ("dynamic", [])):
            p = subprocess.run(["gcc", "-O1", *flags, "-o", str(real / name), str(cls.tmp / "prog.c")],
                               capture_output=True, text=True)
            if p.returncode == 0:
                os.symlink(cls.loader, cls.tmp / name)
                cls.kinds[name] = True

    @classmethod
    def tearDownClass(cls):
        shutil.rmtree(cls.tmp, ignore_errors=True)

    def run_prog(self, name: str, force: str) -> subprocess.CompletedProcess:
        env = dict(os.environ)
        env.pop("CALGARY_COMPAT_TRACED", None)
        if force:
            env["CALGARY_COMPAT_FORCE"] = force
        else:
            env.pop("CALGARY_COMPAT_FORCE", None)
        return subprocess.run([str(self.tmp / name), str(self.tmp / "listme")], env=env,
                              capture_output=True, text=True, timeout=60)

    def test_paths(self):
        self.assertIn("static", self.kinds, "gcc -static failed: no static glibc to test with")
        for name in self.kinds:
            for force in ("", "load", "trace", "load,trace"):
                with self.subTest(program=name, force=force or "none"):
                    p = self.run_prog(name, force)
                    self.assertEqual(p.returncode, 7, p.stdout + p.stderr)
                    self.assertIn(f"argv0={self.tmp / name} entries=5 random=1", p.stdout)
                    exe = p.stdout.split("exe=")[1].strip()
                    if "load" in force:
                        self.assertEqual(exe, str(self.loader), "not loaded in-process")
                    else:
                        self.assertEqual(exe, str(self.tmp / "real" / name))
                    if "trace" in force:
                        n = int(p.stderr.split("rewrote ")[1].split()[0])
                        self.assertGreater(n, 0, p.stderr)
                    else:
                        self.assertNotIn("rewrote", p.stderr)

    def test_descriptor_flags_emulated(self):
        """`flags`: the tracer turns pipe2/dup3/flagged socket calls and
        F_DUPFD_CLOEXEC into the pre-2.6.27 / pre-2.6.24 calls plus fcntl, and
        the program sees the same flags."""
        real = self.tmp / "real"
        (self.tmp / "flags.c").write_text(FLAGS_PROGRAM)
        subprocess.run(["gcc", "-O1", "-static", "-o", str(real / "flags"), str(self.tmp / "flags.c")], check=True)
        os.symlink(self.loader, self.tmp / "flags")
        want = "p0=1:1:1 p1=1:1:1 q0=1:0:0 dup3=1:1:0 sock=1:1:1 plain=1:0:0 dupfd=1:1:0 dupfd0=1:0:0 byte=x"
        for force, emulated in (("trace", None), ("trace,flags", 5)):
            with self.subTest(force=force):
                p = self.run_prog("flags", force)
                self.assertEqual(p.returncode, 7, p.stdout + p.stderr)
                self.assertEqual(p.stdout.split(), want.split())
                if emulated is None:
                    self.assertNotIn("emulated", p.stderr)  # this kernel has pipe2
                else:
                    # pipe2 twice, dup3, the flagged socket, F_DUPFD_CLOEXEC; not the plain ones
                    self.assertIn(f"emulated {emulated} pipe2/dup3/socket/F_DUPFD_CLOEXEC flag calls", p.stderr)

    def test_applet_name_falls_back_to_busybox(self):
        # an unknown basename runs REAL_DIR/busybox
        real = self.tmp / "real"
        shutil.copy(real / "static", real / "busybox")
        os.symlink(self.loader, self.tmp / "someapplet")
        p = self.run_prog("someapplet", "")
        self.assertEqual(p.returncode, 7, p.stderr)
        self.assertIn(f"exe={real / 'busybox'}", p.stdout)


if __name__ == "__main__":
    unittest.main()
