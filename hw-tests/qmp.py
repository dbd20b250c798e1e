"""A minimal QMP client (Python stdlib) shared by the hw-tests, the guest
boot runner and the benchmark."""

import json
import socket
import time


class Qmp:
    """Connects to QEMU's QMP unix socket (retrying until `timeout`),
    negotiates capabilities, and runs commands."""

    def __init__(self, path: str, timeout: float = 10.0):
        deadline = time.monotonic() + timeout
        while True:
            self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
            try:
                self.sock.connect(path)
                break
            except OSError:
                self.sock.close()
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.05)
        self.sock.settimeout(timeout)
        self.buf = b""
        self._read()  # greeting
        self.cmd("qmp_capabilities")

    def _read(self) -> dict:
        while b"\n" not in self.buf:
            chunk = self.sock.recv(65536)
            if not chunk:
                raise ConnectionError("QMP connection closed")
            self.buf += chunk
        line, self.buf = self.buf.split(b"\n", 1)
        return json.loads(line)

    def cmd(self, command: str, /, **args) -> dict:
        """The raw reply: {"return": ...} or {"error": ...}; events skipped."""
        msg = {"execute": command}
        if args:
            msg["arguments"] = args
        self.sock.sendall(json.dumps(msg).encode() + b"\n")
        while True:
            r = self._read()
            if "return" in r or "error" in r:
                return r

    def execute(self, command: str, /, **args):
        """The command's return value; raises RuntimeError on a QMP error."""
        r = self.cmd(command, **args)
        if "error" in r:
            raise RuntimeError("QMP %s: %s" % (command, r["error"].get("desc")))
        return r["return"]

    def close(self) -> None:
        try:
            self.sock.close()
        except OSError:
            pass
