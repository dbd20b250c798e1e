"""The setup installs (or checks for) every external command that the
project's scripts and runners call.

A fresh machine once stopped in `./calgary run` with `cpio: command not
found`: the initramfs script called a tool no setup step installed. These
tests keep one list, c-shim/qemu/host-tools.txt, in step with the scripts
and with what c-shim/qemu/apt-setup.sh installs.
"""

import shutil
import subprocess
import unittest

from scripts_commands import (REPO, project_commands, python_commands, read_manifest, manifest_flavors,
                              shell_commands)

APT_SETUP = REPO / "c-shim" / "qemu" / "apt-setup.sh"


class Extractor(unittest.TestCase):
    """The command finder itself: known cases, so a regression in it shows."""

    def test_shell_cases(self):
        text = r'''
log() { echo "x: $*" >&2; }
# cpio in a comment does not count
a="$(dpkg-deb -f "$x" Version)"
(cd "$root" && find . | LC_ALL=C sort | cpio -o) | gzip -9n > out
awk 'BEGIN{for(i=1;i<=NF;i++) print $i}' f
PKGS=(build-essential ninja-build
      pkg-config)
case "$f" in *.xz) xz -dc "$f" ;; esac
sudo_ env DEBIAN_FRONTEND=noninteractive apt-get install -y p
cat <<EOT
heredoc-word not a command
EOT
x=${var:-default} ; [ -n "$x" ] && log "$x"
'''
        got = shell_commands(text)
        self.assertEqual(got, {"dpkg-deb", "find", "sort", "cpio", "gzip", "awk", "xz", "sudo",
                               "env", "apt-get", "cat"})

    def test_python_cases(self):
        text = '''
import subprocess, shutil
subprocess.run(["nice", "cargo", "build"])
subprocess.Popen(["ip", "netns", "exec", NS, "nice", str(tool)])
if shutil.which("taskset"):
    pass
LINTS = [("fmt", ["cargo", "fmt", "--check"])]
subprocess.run([qemu, "-machine", "help"])
'''
        self.assertEqual(python_commands(text), {"nice", "cargo", "ip", "taskset"})

    def test_finds_the_command_that_broke_a_fresh_machine(self):
        found = project_commands()
        self.assertIn("cpio", found)
        self.assertIn("guest-images/build-initramfs.sh", found["cpio"])


class SetupCoversScripts(unittest.TestCase):
    def test_every_called_command_is_in_the_setup_list(self):
        manifest = read_manifest()
        missing = {c: sorted(f) for c, f in project_commands().items() if c not in manifest}
        self.assertEqual(missing, {}, "commands called by scripts but not in c-shim/qemu/host-tools.txt "
                                      "(add each with its Debian package)")

    def installs(self, *flavor):
        p = subprocess.run(["bash", str(APT_SETUP), "--print-packages", *flavor], capture_output=True,
                           text=True, timeout=30)
        self.assertEqual(p.returncode, 0, p.stderr)
        return set(p.stdout.split())

    def test_apt_setup_installs_every_listed_package(self):
        flavors = manifest_flavors()
        default = self.installs()
        wanted = {pkg for c, pkg in read_manifest().items() if not pkg.startswith("@") and c not in flavors}
        self.assertEqual(wanted - default, set())
        # a flavor-only tool (clang for the fuzzer) is installed for its
        # flavor and not by the default setup
        for cmd, flavor in flavors.items():
            pkg = read_manifest()[cmd]
            self.assertIn(pkg, self.installs("--flavor", flavor), cmd)
            self.assertNotIn(pkg, default - wanted, cmd)

    def test_every_listed_command_is_present_after_setup(self):
        # CI runs this after ./calgary's setup: a listed command that is not
        # on PATH means the setup failed to provide it. Flavor-only commands
        # are checked by that flavor's setup.
        flavors = manifest_flavors()
        absent = [c for c, pkg in read_manifest().items()
                  if pkg != "@sudo" and c not in flavors and shutil.which(c) is None]
        self.assertEqual(absent, [])


if __name__ == "__main__":
    unittest.main()
