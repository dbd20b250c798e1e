"""This machine's side of a boot: the network namespace with the taps and
the peer, CPU pinning of QEMU's threads (taskset semantics through
sched_setaffinity), per-thread CPU time and the perf recorder."""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
from pathlib import Path

# One namespace per benchmark process: two checkouts benchmarking at once
# would otherwise delete each other's taps (the taps live inside it, so
# their names may repeat).
NETNS = f"cbench{os.getpid()}"
TAPS = {"e1000": ("cbt1", "10.77.1.1", "10.77.1.2"), "virtio": ("cbt2", "10.77.2.1", "10.77.2.2")}
PORT = 5001


def cpus() -> list[int]:
    return sorted(os.sched_getaffinity(0))


def pin_plan(ncpu: int) -> tuple[set[int], set[int]]:
    """(vCPU threads' CPUs, everything else's CPUs): on two or more CPUs the
    vCPU threads get the last CPU to themselves and the I/O side (QEMU's main
    loop, the peer, perf, this driver) the others; on one CPU both share it."""
    all_ = set(range(ncpu))
    if ncpu < 2:
        return all_, all_
    return {ncpu - 1}, all_ - {ncpu - 1}


def calibrate(host_tool: Path, secs: float, cpus: set[int] | None) -> float:
    """Rounds per second of `calgary-bench-host calibrate` over one window
    on `cpus` (the vCPU's), NaN if it could not run."""
    try:
        p = subprocess.run([str(host_tool), "calibrate", "--secs", f"{secs:g}"], capture_output=True, text=True,
                           timeout=secs + 30, preexec_fn=(lambda: os.sched_setaffinity(0, cpus)) if cpus else None)
        return float(p.stdout.split("rate=")[1].split()[0])
    except (OSError, subprocess.SubprocessError, IndexError, ValueError):
        return float("nan")


def threads(pid: int) -> dict[int, str]:
    """tid -> thread name (QEMU names them with -name ...,debug-threads=on)."""
    out = {}
    try:
        for t in os.listdir(f"/proc/{pid}/task"):
            try:
                out[int(t)] = Path(f"/proc/{pid}/task/{t}/comm").read_text().strip()
            except OSError:
                pass
    except OSError:
        pass
    return out


def is_vcpu(name: str) -> bool:
    return name.startswith("CPU ") and "/" in name


def pin_threads(pid: int, vcpu_cpus: set[int], io_cpus: set[int]) -> int:
    """Pin every thread of `pid`; returns how many vCPU threads were found."""
    n = 0
    for tid, name in threads(pid).items():
        want = vcpu_cpus if is_vcpu(name) else io_cpus
        n += is_vcpu(name)
        try:
            os.sched_setaffinity(tid, want)
        except OSError:
            pass
    return n


def thread_cpu_ns(pid: int) -> tuple[int, int]:
    """CPU time (ns, /proc/.../schedstat) of the vCPU threads and of the rest."""
    v = o = 0
    for tid, name in threads(pid).items():
        try:
            ns = int(Path(f"/proc/{pid}/task/{tid}/schedstat").read_text().split()[0])
        except (OSError, ValueError, IndexError):
            continue
        if is_vcpu(name):
            v += ns
        else:
            o += ns
    return v, o


class Perf:
    """`perf record -e cpu-clock` on one process, CLOCK_MONOTONIC timestamps
    (the same clock as time.monotonic(), so samples fall into the windows)."""

    def __init__(self, pid: int, out: Path, freq: int, callgraph: bool = False, cpus_: set[int] | None = None):
        """With `callgraph`, DWARF call chains (QEMU has no frame pointers)
        and also every context switch (sched:sched_switch): where threads
        block, which the cpu-clock samples cannot show."""
        self.out = out
        cmd = ["perf", "record", "-q", "-k", "CLOCK_MONOTONIC", "-p", str(pid), "-o", str(out)]
        if callgraph:
            # per-event period: cpu-clock every 1/freq s, every context switch
            cmd += ["-e", f"cpu-clock/period={10**9 // freq}/", "-e", "sched:sched_switch",
                    "--call-graph", "dwarf,8192"]
        else:
            cmd += ["-e", "cpu-clock", "-F", str(freq)]
        self.proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
                                     preexec_fn=(lambda: os.sched_setaffinity(0, cpus_)) if cpus_ else None)

    def stop(self) -> str:
        """Stop recording; returns perf's complaint, if any."""
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGINT)
        try:
            _, err = self.proc.communicate(timeout=60)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            _, err = self.proc.communicate()
        return (err or b"").decode(errors="replace").strip()


def perf_usable() -> str | None:
    """None when `perf record -e cpu-clock` works here, else why not."""
    if not shutil.which("perf"):
        return "perf not installed"
    p = subprocess.run(["perf", "stat", "-e", "cpu-clock", "true"], capture_output=True, text=True)
    return None if p.returncode == 0 else f"perf stat failed: {p.stderr.strip()[-200:]}"


def setup_netns(host_tool: Path, peer_cpus: set[int] | None, multiqueue: bool = False):
    """Network namespace with the two taps and the peer. Returns (ok, why, peer)."""
    if os.geteuid() != 0:
        return False, "not root (network namespace and tap need root)", None
    if not Path("/dev/net/tun").exists():
        return False, "/dev/net/tun missing", None
    if not shutil.which("ip"):
        return False, "iproute2 'ip' not found", None
    subprocess.run(["ip", "netns", "del", NETNS], capture_output=True)
    cmds = [["ip", "netns", "add", NETNS],
            ["ip", "netns", "exec", NETNS, "ip", "link", "set", "lo", "up"]]
    for nic, (tap, host_ip, _) in TAPS.items():
        mq = ["multi_queue"] if multiqueue and nic == "virtio" else []
        cmds += [["ip", "netns", "exec", NETNS, "ip", "tuntap", "add", "dev", tap, "mode", "tap", *mq],
                 ["ip", "netns", "exec", NETNS, "ip", "addr", "add", f"{host_ip}/24", "dev", tap],
                 ["ip", "netns", "exec", NETNS, "ip", "link", "set", tap, "up"]]
    for c in cmds:
        p = subprocess.run(c, capture_output=True, text=True)
        if p.returncode != 0:
            return False, f"{' '.join(c)}: {p.stderr.strip()}", None
    peer = subprocess.Popen(["ip", "netns", "exec", NETNS, "nice", str(host_tool), "peer", "--port", str(PORT)],
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                            preexec_fn=(lambda: os.sched_setaffinity(0, peer_cpus)) if peer_cpus else None)
    return True, "", peer


def teardown_netns(peer: subprocess.Popen | None) -> None:
    if peer is not None:
        peer.terminate()
        try:
            peer.wait(5)
        except subprocess.TimeoutExpired:
            peer.kill()
    subprocess.run(["ip", "netns", "del", NETNS], capture_output=True)
