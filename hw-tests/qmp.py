"""The QMP client of the hw-tests, the guest boot runner and the benchmark:
a thin synchronous wrapper over QEMU's own `qemu.qmp` package.

`qemu.qmp` is installed by the setup (c-shim/qemu/build.sh) into the
setup's virtual environment, $CALGARY_CACHE/venv (default
~/.cache/calgary-qemu/venv). The runners run under the system python3, so
when the package is not importable as it is, that venv's site-packages is
appended to sys.path (qemu.qmp is pure Python).

The interface is the one the callers had from the former stdlib client:
`Qmp(path, timeout)` connects (retrying until `timeout`) and negotiates,
`cmd()` returns the raw reply ({"return": ...} or {"error": {...}}),
`execute()` returns the value or raises RuntimeError, `close()`. Transport
failures are raised as ConnectionError (an OSError).
"""

import asyncio
import glob
import os
import sys
import time


def _venv_site_packages() -> list[str]:
    cache = os.environ.get("CALGARY_CACHE") or os.path.join(
        os.environ.get("XDG_CACHE_HOME") or os.path.expanduser("~/.cache"), "calgary-qemu")
    return sorted(glob.glob(os.path.join(cache, "venv", "lib", "python3*", "site-packages")))


try:
    from qemu.qmp import ExecuteError, QMPClient, QMPError
except ImportError:
    sys.path.extend(p for p in _venv_site_packages() if p not in sys.path)
    try:
        from qemu.qmp import ExecuteError, QMPClient, QMPError
    except ImportError as e:
        raise ImportError(
            "qemu.qmp not found (neither installed for %s nor in the setup's venv %s); "
            "run ./calgary setup" % (sys.executable, _venv_site_packages() or "<none>")) from e


class Qmp:
    """Connects to QEMU's QMP unix socket (retrying until `timeout`),
    negotiates capabilities, and runs commands; every call is bounded by
    `timeout` seconds."""

    def __init__(self, path: str, timeout: float = 10.0):
        self.timeout = timeout
        self._loop = asyncio.new_event_loop()
        self._client = None
        deadline = time.monotonic() + timeout
        while True:
            client = self._run(self._new_client(), timeout)
            try:
                self._run(client.connect(path), max(deadline - time.monotonic(), 0.1))
                self._client = client
                return
            except (QMPError, OSError, asyncio.TimeoutError) as e:
                if time.monotonic() > deadline:
                    self._loop.close()
                    raise ConnectionError("QMP connect %s: %s" % (path, e)) from e
                time.sleep(0.05)

    @staticmethod
    async def _new_client() -> QMPClient:
        # created inside the loop that will run it
        return QMPClient("calgary")

    def _run(self, coro, timeout: float):
        return self._loop.run_until_complete(asyncio.wait_for(coro, timeout))

    def cmd(self, command: str, /, **args) -> dict:
        """The raw reply: {"return": ...} or {"error": ...}."""
        if self._client is None:
            raise ConnectionError("QMP %s: connection closed" % command)
        try:
            return {"return": self._run(self._client.execute(command, args or None), self.timeout)}
        except ExecuteError as e:
            return {"error": dict(e.received.get("error", {}))}
        except (QMPError, EOFError, asyncio.TimeoutError) as e:
            raise ConnectionError("QMP %s: %s" % (command, e or type(e).__name__)) from e

    def execute(self, command: str, /, **args):
        """The command's return value; raises RuntimeError on a QMP error."""
        r = self.cmd(command, **args)
        if "error" in r:
            raise RuntimeError("QMP %s: %s" % (command, r["error"].get("desc")))
        return r["return"]

    def close(self) -> None:
        if self._loop.is_closed():
            return
        if self._client is not None:
            try:
                self._run(self._client.disconnect(), self.timeout)
            except (QMPError, OSError, EOFError, asyncio.TimeoutError):
                pass  # QEMU may already be gone (after "quit")
            self._client = None
        self._loop.close()
