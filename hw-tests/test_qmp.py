"""The QMP client (hw-tests/qmp.py, a wrapper over qemu.qmp) against the
built QEMU: the interface its callers rely on — raw replies, values,
errors as RuntimeError, transport failures as ConnectionError."""

import os
import shutil
import subprocess
import tempfile
import time
import unittest

from machine import QEMU, qemu_available
from qmp import Qmp


@unittest.skipUnless(qemu_available(), "build/qemu-system-x86_64 is not built (run ./calgary setup)")
class QmpClient(unittest.TestCase):
    def setUp(self):
        self.dir = tempfile.mkdtemp(prefix="calgary-qmp-")
        self.sock = os.path.join(self.dir, "qmp.sock")
        self.proc = subprocess.Popen(
            [QEMU, "-machine", "calgary", "-accel", "qtest", "-nodefaults", "-display", "none",
             "-S", "-qmp", "unix:%s,server=on,wait=off" % self.sock],
            stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)

    def tearDown(self):
        if self.proc.poll() is None:
            self.proc.kill()
        self.proc.wait(10)
        self.proc.stderr.close()
        shutil.rmtree(self.dir, ignore_errors=True)

    def test_commands_errors_and_quit(self):
        q = Qmp(self.sock, timeout=10)  # retries until QEMU has made the socket
        try:
            self.assertEqual(q.execute("query-status")["status"], "prelaunch")
            r = q.cmd("qom-get", path="/machine/calgary0/phb1", property="stat-translations")
            self.assertEqual(r, {"return": 0})
            r = q.cmd("no-such-command")
            self.assertEqual(r["error"]["class"], "CommandNotFound", r)
            with self.assertRaisesRegex(RuntimeError, "qom-get"):
                q.execute("qom-get", path="/machine/calgary0/phb9", property="csr")
            q.cmd("quit")
        finally:
            q.close()
        self.assertEqual(self.proc.wait(10), 0)
        with self.assertRaises(ConnectionError):
            q.cmd("query-status")

    def test_no_server_is_a_connection_error(self):
        t0 = time.monotonic()
        with self.assertRaises(ConnectionError):
            Qmp(os.path.join(self.dir, "absent.sock"), timeout=0.5)
        self.assertLess(time.monotonic() - t0, 5, "the retry is bounded by the timeout")


if __name__ == "__main__":
    unittest.main()
