"""The guest: the static workload binary, the host tools, Debian's kernel
and initramfs (guest-images/build-initramfs.sh, called, not changed) plus a
second cpio with /bench-init, /bench-jobs and the workload binary."""

from __future__ import annotations

import os
import subprocess
import tempfile
from pathlib import Path

HERE = Path(__file__).resolve().parents[1]
REPO = HERE.parents[1]
ASSEMBLE = REPO / "guest-images" / "build-initramfs.sh"
# Inside this checkout's own target/: a target directory shared between
# checkouts lets one checkout's build replace the binary another is about
# to put in its guest.
BENCH_TARGET = REPO / "target" / "bench-guest"
HOST_TOOL = REPO / "target" / "release" / "calgary-bench-host"
PLUGIN = REPO / "target" / "release" / "libcalgary_plugin.so"

BENCH_INIT = r"""#!/bin/sh
# /bench-init: appended by hw-tests/bench/bench.py (rdinit=/bench-init)
export PATH=/bin:/sbin
mount -t proc proc /proc
mount -t sysfs sysfs /sys
mount -t devtmpfs devtmpfs /dev 2>/dev/null
echo "BENCH-INIT $(uname -r) cpus=$(grep -c ^processor /proc/cpuinfo)"
param() { for w in $(cat /proc/cmdline); do case "$w" in bench.$1=*) echo "${w#bench.$1=}";; esac; done; }
if [ "$(param premap)" = 1 ]; then
    calgary-bench premap || echo "BENCH-ERROR premap failed"
fi
kver=$(uname -r)
list=/lib/modules/$kver/calgary-modules.list
if [ -f "$list" ]; then
    while read m; do [ -n "$m" ] && insmod "/lib/modules/$kver/$m" 2>/dev/null; done < "$list"
fi
ip link set lo up
i=0
while [ $i -lt 100 ]; do
    n=0; for d in /sys/class/net/eth*; do [ -e "$d" ] && n=$((n+1)); done
    [ $n -ge $(param nics) ] && break
    sleep 0.1; i=$((i+1))
done
for d in /sys/class/net/eth*; do
    [ -e "$d" ] || continue
    dev=${d##*/}
    drv=$(readlink "$d/device/driver"); drv=${drv##*/}
    case "$drv" in
        e1000) ip addr add 10.77.1.2/24 dev "$dev"; ip link set "$dev" up; echo "BENCH-NIC e1000 $dev" ;;
        virtio_net|virtio*) ip addr add 10.77.2.2/24 dev "$dev"; ip link set "$dev" up
                            echo "BENCH-NIC virtio $dev queues=$(ls -d /sys/class/net/$dev/queues/tx-* | wc -l)" ;;
    esac
done
i=0
while [ $i -lt 100 ] && [ ! -b /dev/nvme0n1 ] && [ "$(param blk)" = 1 ]; do sleep 0.1; i=$((i+1)); done
[ -d /sys/block/nvme0n1/mq ] && echo "BENCH-NVME queues=$(ls /sys/block/nvme0n1/mq | wc -l)"
echo "BENCH-READY"
while read id kind nic mode size secs warmup threads; do
    [ -n "$id" ] || continue
    echo "BENCH-START $id"
    case "$kind" in
        net) if [ "$nic" = e1000 ]; then srv=10.77.1.1; else srv=10.77.2.1; fi
             calgary-bench net --server $srv:5001 --mode $mode --size $size --secs $secs \
                 --warmup $warmup --threads $threads 2>&1 ;;
        blk) case "$mode" in readhuge) buf=huge ;; *) buf=heap ;; esac
             calgary-bench blk --dev /dev/nvme0n1 --size $size --secs $secs \
                 --warmup $warmup --threads $threads --buffer $buf 2>&1 ;;
    esac
    echo "BENCH-END $id rc=$?"
done < /bench-jobs
echo "BENCH-DONE"
sync
poweroff -f
"""


def cpio_reproducible() -> bool:
    """Whether this cpio has --reproducible (stable inode numbers)."""
    p = subprocess.run(["cpio", "--help"], capture_output=True, text=True)
    return "--reproducible" in p.stdout


def cpio_archive(files: dict[str, tuple[int, bytes]]) -> bytes:
    """A newc archive made by the cpio tool, reproducibly like
    guest-images/build-initramfs.sh: root-owned, mtime 0, names sorted.
    files: path without leading / -> (permission bits, content); their
    parent directories are added (mode 0755)."""
    with tempfile.TemporaryDirectory(prefix="cbench-cpio-") as tmp:
        root = Path(tmp)
        for name, (perm, data) in files.items():
            p = root / name
            p.parent.mkdir(parents=True, exist_ok=True)
            p.write_bytes(data)
            p.chmod(perm)
        names = sorted(str(p.relative_to(root)) for p in root.rglob("*"))
        for n in names:
            if (root / n).is_dir():
                (root / n).chmod(0o755)
            os.utime(root / n, (0, 0), follow_symlinks=False)
        repro = ["--reproducible"] if cpio_reproducible() else []
        p = subprocess.run(["cpio", "--quiet", "-o", "-H", "newc", "-R", "0:0", *repro], cwd=root,
                           input="".join(n + "\n" for n in names).encode(), capture_output=True)
        if p.returncode != 0:
            raise RuntimeError(f"cpio failed: {p.stderr.decode(errors='replace').strip()}")
        return p.stdout


def build_tool() -> Path:
    """The guest workload binary, static (it runs in the guest's initramfs)."""
    env = dict(os.environ, RUSTFLAGS="-C target-feature=+crt-static")
    p = subprocess.run(["nice", "cargo", "build", "-q", "--release", "-p", "calgary-bench",
                        "--target", "x86_64-unknown-linux-gnu", "--target-dir", str(BENCH_TARGET)],
                       cwd=REPO, env=env, capture_output=True, text=True, timeout=1800)
    if p.returncode != 0:
        raise RuntimeError(f"cargo build calgary-bench failed:\n{p.stderr[-3000:]}")
    return BENCH_TARGET / "x86_64-unknown-linux-gnu" / "release" / "calgary-bench"


def build_host_tools(plugin: bool) -> Path:
    """The host tools (network peer, plots, replay) and, when asked, the TCG plugin."""
    pk = ["-p", "calgary-bench-host"] + (["-p", "calgary-plugin"] if plugin else [])
    p = subprocess.run(["nice", "cargo", "build", "-q", "--release", *pk],
                       cwd=REPO, capture_output=True, text=True, timeout=1800)
    if p.returncode != 0:
        raise RuntimeError(f"cargo build {' '.join(pk)} failed:\n{p.stderr[-3000:]}")
    return HOST_TOOL


def assemble_guest() -> dict[str, str]:
    p = subprocess.run(["bash", str(ASSEMBLE), "--quiet"], capture_output=True, text=True, timeout=1800)
    if p.returncode != 0:
        raise RuntimeError(f"guest-images/build-initramfs.sh failed:\n{p.stderr[-3000:]}")
    env = {}
    for line in p.stdout.splitlines():
        if "=" in line:
            k, v = line.split("=", 1)
            env[k.strip()] = v.strip()
    for k in ("KERNEL", "INITRD"):
        if not env.get(k) or not Path(env[k]).exists():
            raise RuntimeError(f"build-initramfs.sh gave no usable {k}")
    return env


def system_map(kernel: str) -> Path | None:
    """The System.map of a kernel: CALGARY_GUEST_SYSTEM_MAP (for the user
    kernel), next to it, or Debian's /boot/System.map-<version> beside vmlinuz."""
    k = Path(kernel)
    cands = [k.with_name("System.map")]
    if k.name.startswith("vmlinuz-"):
        cands.insert(0, k.with_name("System.map-" + k.name[len("vmlinuz-"):]))
    for c in cands:
        if c.exists():
            return c
    return None


def make_initrd(base_initrd: bytes, tool_bytes: bytes, path: Path, jobs: list[tuple]) -> Path:
    """Debian's initramfs + a second cpio (Linux unpacks concatenated
    archives; it looks for the next one at 4-byte aligned offsets, zeros
    in between are skipped)."""
    jobtext = "".join(" ".join(str(x) for x in j) + "\n" for j in jobs)
    init = cpio_archive({"bench-init": (0o755, BENCH_INIT.encode()),
                         "bench-jobs": (0o644, jobtext.encode()),
                         "bin/calgary-bench": (0o755, tool_bytes)})
    with open(path, "wb") as f:
        f.write(base_initrd)
        f.write(b"\0" * (-len(base_initrd) % 512))
        f.write(init)
    return path
