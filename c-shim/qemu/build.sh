#!/usr/bin/env bash
# Set up and build qemu-system-x86_64 10.0.2 (Debian source package) with the
# Calgary shim and the Rust core linked in. Idempotent and cached:
#   $CACHE/src/            the .orig.tar.xz as apt fetched it
#   $CACHE/venv/           meson >= 1.5, pycotap, qemu.qmp
#   $CACHE/qemu-<key>/     unpacked + patched tree and its build/ directory;
#                          <key> = hash of tarball + patches + device set,
#                          so only a change to those re-unpacks/reconfigures.
# The shim sources and the Rust archive are synced into the tree on every run
# (copied only when their content changed), so editing them rebuilds only
# the shim object and relinks.
# Result: <repo>/build/qemu-system-x86_64 (symlink into the cached build).
#
# Flavors (CALGARY_QEMU_FLAVOR), each in its own tree and cache key:
#   (unset)  the normal build above
#   asan     the same QEMU built with --enable-asan --enable-ubsan (gcc):
#            <repo>/build/qemu-system-x86_64-asan, for `./calgary sanitize`
#   fuzz     qemu-fuzz-x86_64 (--enable-fuzzing --enable-asan, clang and
#            libFuzzer from Debian): <repo>/build/qemu-fuzz-x86_64, for
#            `./calgary fuzz` (QEMU's generic-fuzz target)
set -euo pipefail

REPO=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
CACHE=${CALGARY_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/calgary-qemu}
TARBALL=qemu_10.0.2+ds.orig.tar.xz
TARBALL_SHA256=0901da33844a331bf8b3602b9c1fbd178e60b737c8e3ade678255bd090c9b9f1
SRCPKG=qemu/bookworm-backports
# Lean: x86_64 system emulation only, i440fx/q35 and the devices of
# c-shim/qemu/calgary.mak; KVM, TCG, TCG plugins, slirp; no UI, docs, tools.
CONFIGURE_ARGS="--prefix=/usr --firmwarepath=/usr/share/seabios:/usr/lib/ipxe/qemu:/usr/share/qemu \
 --target-list=x86_64-softmmu --without-default-devices --with-devices-x86_64=calgary \
 --enable-kvm --enable-tcg --enable-plugins --enable-slirp --enable-trace-backends=log \
 --disable-download --disable-install-blobs --disable-rust --disable-docs --disable-user \
 --disable-tools --disable-guest-agent --disable-gtk --disable-sdl --disable-vnc --disable-spice \
 --disable-opengl --disable-curses --disable-dbus-display --disable-xen --disable-werror \
 --disable-relocatable"
FLAVOR=${CALGARY_QEMU_FLAVOR:-}
CC_CMD=gcc
TARGET=qemu-system-x86_64
OUT=qemu-system-x86_64
case "$FLAVOR" in
    "") ;;
    asan)
        CONFIGURE_ARGS="$CONFIGURE_ARGS --enable-asan --enable-ubsan"
        OUT=qemu-system-x86_64-asan ;;
    fuzz)
        # libFuzzer needs clang; the fuzzer links the same shim and core.
        CONFIGURE_ARGS="$CONFIGURE_ARGS --enable-fuzzing --enable-asan --cxx=clang++"
        CC_CMD=clang
        TARGET=qemu-fuzz-x86_64
        OUT=qemu-fuzz-x86_64 ;;
    *)
        printf 'calgary setup: ERROR: unknown CALGARY_QEMU_FLAVOR %s (accepted: asan, fuzz)\n' "$FLAVOR" >&2
        exit 2 ;;
esac
TREE_PREFIX=qemu-${FLAVOR:+$FLAVOR-}

say() { printf 'calgary setup: %s\n' "$*"; }
die() { printf 'calgary setup: ERROR: %s\n' "$*" >&2; exit 1; }

mkdir -p "$CACHE/src"
# ccache: identical sources in differently keyed trees still hit.
export CCACHE_BASEDIR="$CACHE" CCACHE_NOHASHDIR=true

# 1. Debian packages (build deps, firmware) and the deb-src entry.
"$REPO/c-shim/qemu/apt-setup.sh" ${FLAVOR:+--flavor "$FLAVOR"}

# 2. The QEMU source tarball from Debian's source package.
if [ ! -f "$CACHE/src/$TARBALL" ]; then
    say "fetching $SRCPKG source package"
    # The .dsc / .debian.tar.xz of this backport may 404; the .orig.tar.xz is
    # all we need, so apt's exit status is not trusted, the file is.
    (cd "$CACHE/src" && apt-get source --download-only "$SRCPKG" >/dev/null 2>&1) || true
    [ -f "$CACHE/src/$TARBALL" ] || die "apt-get source did not deliver $TARBALL (is the deb-src entry in /etc/apt/sources.list.d/calgary-qemu-src.sources reachable?)"
fi
sum=$(sha256sum "$CACHE/src/$TARBALL" | cut -d' ' -f1)
if [ "$sum" != "$TARBALL_SHA256" ]; then
    die "$TARBALL has SHA-256 $sum, expected $TARBALL_SHA256; delete $CACHE/src/$TARBALL and rerun"
fi

# 3. Our own virtual environment: meson >= 1.5 and pycotap for QEMU's
#    build, qemu.qmp (QEMU's QMP client library) for hw-tests/qmp.py. A venv
#    from an older setup that lacks a package is completed in place (pip
#    leaves what is already satisfied alone).
VENV="$CACHE/venv"
if ! "$VENV/bin/python3" -c 'import pycotap, qemu.qmp, mesonbuild.coredata as c, sys; v=tuple(int(x) for x in c.version.split(".")[:2]); sys.exit(v < (1,5))' 2>/dev/null; then
    say "setting up the python venv (meson, pycotap, qemu.qmp)"
    [ -x "$VENV/bin/python3" ] || python3 -m venv "$VENV"
    "$VENV/bin/pip" install -q --disable-pip-version-check "meson>=1.5,<1.9" pycotap "qemu.qmp>=0.0.3,<0.1"
fi

# 4. Unpacked, patched tree, keyed by what forces a reconfigure.
PATCHES=("$REPO"/c-shim/patches/*.patch)
# A flavor's own patches (c-shim/patches/<flavor>/) follow the common ones.
[ -n "$FLAVOR" ] && [ -d "$REPO/c-shim/patches/$FLAVOR" ] && PATCHES+=("$REPO/c-shim/patches/$FLAVOR"/*.patch)
key=$( { echo "$TARBALL_SHA256"; cat "${PATCHES[@]}" "$REPO/c-shim/qemu/calgary.mak"; echo "$CONFIGURE_ARGS $CC_CMD"; } | sha256sum | cut -c1-16)
TREE="$CACHE/$TREE_PREFIX$key"
if [ ! -f "$TREE/.calgary-patched" ]; then
    say "unpacking and patching QEMU into $TREE"
    rm -rf "$TREE.tmp"
    mkdir -p "$TREE.tmp"
    tar -xf "$CACHE/src/$TARBALL" -C "$TREE.tmp" --strip-components=1
    for p in "${PATCHES[@]}"; do
        patch -s -p1 -d "$TREE.tmp" < "$p" || die "patch $(basename "$p") does not apply"
    done
    cp "$REPO/c-shim/qemu/calgary.mak" "$TREE.tmp/configs/devices/x86_64-softmmu/calgary.mak"
    rm -rf "$TREE"
    mv "$TREE.tmp" "$TREE"
    touch "$TREE/.calgary-patched"
    # keep only the newest two trees of this flavor
    ls -dt "$CACHE"/qemu-* 2>/dev/null | grep -E "/$TREE_PREFIX[0-9a-f]{16}\$" | tail -n +3 | xargs -r rm -rf
fi

# 5. The Rust core as a static library (cargo is incremental by itself).
say "building the Rust static library"
(cd "$REPO" && cargo build --release --locked -q -p calgary-ffi 2>&1) || \
    (cd "$REPO" && cargo build --release -q -p calgary-ffi) || die "cargo build of calgary-ffi failed"

sync_file() {   # copy only when the content changed, so ninja sees no change otherwise
    local src=$1 dst=$2
    if ! cmp -s "$src" "$dst"; then cp "$src" "$dst"; return 0; fi
    return 1
}
# c-shim/hw/ and c-shim/include/ mirror QEMU's tree (the machine in hw/i386,
# chip and PHBs in hw/pci-host, their header in include/hw/pci-host); the FFI
# header sits next to that header, the archive next to the shim's sources.
(cd "$REPO/c-shim" && find hw include -type f -name '*.[ch]') | while read -r f; do
    sync_file "$REPO/c-shim/$f" "$TREE/$f" || true
done
sync_file "$REPO/c-shim/calgary-ffi.h" "$TREE/include/hw/pci-host/calgary-ffi.h" || true
relink=0
sync_file "$REPO/target/release/libcalgary_ffi.a" "$TREE/hw/pci-host/libcalgary_ffi.a" && relink=1

# 6. Configure once per tree.
B="$TREE/build"
if [ ! -f "$B/build.ninja" ]; then
    say "configuring QEMU (x86_64-softmmu, lean device set)"
    rm -rf "$B"; mkdir -p "$B"
    cc=$CC_CMD; command -v ccache >/dev/null && cc="ccache $CC_CMD"
    (cd "$B" && ../configure --python="$VENV/bin/python3" --cc="$cc" $CONFIGURE_ARGS \
        > "$B/../configure.log" 2>&1) || { tail -30 "$TREE/configure.log"; die "QEMU configure failed (log: $TREE/configure.log)"; }
fi

# 7. Build. A changed Rust archive is not a ninja input: drop the binary so it relinks.
[ $relink = 1 ] && rm -f "$B/$TARGET"
say "building $TARGET${FLAVOR:+ ($FLAVOR flavor)} (first build takes a few minutes)"
ninja -C "$B" "$TARGET" > "$TREE/build.log" 2>&1 || { grep -E '(error|warning):' -A3 "$TREE/build.log" | head -40; die "QEMU build failed (log: $TREE/build.log)"; }

# A binary run from its build tree looks for data in build/qemu-bundle/<path>
# instead of <path>: point the firmware directories there at Debian's.
for d in /usr/share/seabios /usr/lib/ipxe/qemu; do
    mkdir -p "$B/qemu-bundle$(dirname "$d")"
    [ -e "$B/qemu-bundle$d" ] || ln -s "$d" "$B/qemu-bundle$d"
done
mkdir -p "$B/qemu-bundle/usr/share/qemu"
for f in /usr/share/qemu/*; do    # option ROMs etc. from qemu-system-data
    [ -e "$B/qemu-bundle$f" ] || ln -s "$f" "$B/qemu-bundle$f"
done

mkdir -p "$REPO/build"
ln -sfn "$B/$TARGET" "$REPO/build/$OUT"
say "ready: $REPO/build/$OUT"
