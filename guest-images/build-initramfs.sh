#!/usr/bin/env bash
# Assemble the Calgary test guest: Debian's bookworm kernel (unpacked, never
# installed) + an initramfs made of Debian's busybox-static, the kernel
# modules for e1000 / virtio-net / nvme (with dependencies), Debian's
# kexec-tools (`kexec`, with the shared libraries it needs, for the kdump
# check) and our static in-guest tool (rust/calgary-guest).
#
# Idempotent and cached under ${XDG_CACHE_HOME:-$HOME/.cache}/calgary-qemu/guest/:
# the initramfs is keyed by the package versions, the tool's source hash,
# the rustc version and this script's hash; re-running with unchanged
# inputs does no work and prints the same paths.
#
# Usage: guest-images/build-initramfs.sh [--print] [--quiet]
#   Prints (stdout) shell-style KEY=VALUE lines:
#     KERNEL=.../vmlinuz  INITRD=.../initramfs-<key>.cpio.gz  KVER=...  KEY=...
# Environment:
#   CALGARY_GUEST_CACHE   override the cache directory (default: $CALGARY_CACHE/guest)
#   CALGARY_GUEST_OFFLINE=1  do not consult apt; reuse the last assembled set
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
repo="$(cd "$here/.." && pwd)"
cache="${CALGARY_GUEST_CACHE:-${CALGARY_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/calgary-qemu}/guest}"
quiet=0
for a in "$@"; do
    case "$a" in
        --quiet|-q) quiet=1 ;;
        --print) ;;
        -h|--help) sed -n '2,20p' "$0"; exit 0 ;;
        *) echo "unknown argument: $a" >&2; exit 2 ;;
    esac
done
log() { [ "$quiet" = 1 ] || echo "build-initramfs: $*" >&2; }
die() { echo "build-initramfs: ERROR: $*" >&2; exit 1; }

mkdir -p "$cache"/{debs,pkgs,tool}
exec 9>"$cache/.lock"
flock 9

# Modules we need and the directories (in the kernel tree) they live in.
WANT_MODULES="e1000 virtio_pci virtio_net nvme"

# ------------------------------------------------------------------ versions
candidate() { apt-cache policy "$1" 2>/dev/null | awk '/Candidate:/{print $2; exit}'; }

if [ "${CALGARY_GUEST_OFFLINE:-0}" = 1 ]; then
    [ -f "$cache/current.env" ] || die "offline mode but nothing assembled yet in $cache"
    cat "$cache/current.env"
    exit 0
fi

meta_ver="$(candidate linux-image-amd64)"
if [ -z "$meta_ver" ] || [ "$meta_ver" = "(none)" ]; then
    log "apt lists lack linux-image-amd64; running apt-get update"
    apt-get update -qq >&2 || die "apt-get update failed"
    meta_ver="$(candidate linux-image-amd64)"
fi
[ -n "$meta_ver" ] && [ "$meta_ver" != "(none)" ] || die "no candidate for linux-image-amd64"
kpkg="$(apt-cache show "linux-image-amd64=$meta_ver" | awk -F'[ ,]+' '/^Depends:/{print $2; exit}')"
[ -n "$kpkg" ] || die "cannot resolve the kernel package behind linux-image-amd64 $meta_ver"
kver_pkg="$(candidate "$kpkg")"
bb_ver="$(candidate busybox-static)"
[ -n "$bb_ver" ] && [ "$bb_ver" != "(none)" ] || die "no candidate for busybox-static"
kx_ver="$(candidate kexec-tools)"
[ -n "$kx_ver" ] && [ "$kx_ver" != "(none)" ] || die "no candidate for kexec-tools"

# ------------------------------------------------------------------ tool hash
rustc_v="$(rustc --version 2>/dev/null || echo unknown)"
# The tool and the crates it is built from (the core's register map, the
# /dev/mem crate): a change in any of them rebuilds it. Cargo.lock pins the
# external crates.
tool_hash="$( (cd "$repo" && find rust/calgary-guest rust/calgary-core rust/calgary-devmem -type f \( -name '*.rs' -o -name Cargo.toml \) -not -path '*/target/*' | LC_ALL=C sort | xargs sha256sum; sha256sum Cargo.lock; echo "$rustc_v") | sha256sum | cut -c1-16)"
script_hash="$(cat "$here/build-initramfs.sh" "$here/init" "$here/udhcpc.sh" "$here/compat-loader.c" | sha256sum | cut -c1-16)"
key="$(echo "$kpkg=$kver_pkg busybox-static=$bb_ver kexec-tools=$kx_ver tool=$tool_hash script=$script_hash" | sha256sum | cut -c1-16)"
initrd="$cache/initramfs-$key.cpio.gz"
kdir="$cache/pkgs/${kpkg}_${kver_pkg}"

emit() {
    local kver
    kver="$(ls "$kdir/lib/modules")"
    cat <<EOF
KERNEL=$kdir/boot/vmlinuz-$kver
INITRD=$initrd
KVER=$kver
KEY=$key
KPKG=$kpkg=$kver_pkg
BUSYBOX=busybox-static=$bb_ver
KEXEC=kexec-tools=$kx_ver
TOOL_HASH=$tool_hash
EOF
}

if [ -f "$initrd" ] && [ -d "$kdir/lib/modules" ]; then
    log "up to date ($kpkg $kver_pkg, busybox-static $bb_ver, tool $tool_hash)"
    emit | tee "$cache/current.env"
    exit 0
fi

# ------------------------------------------------------------------ packages
fetch_deb() { # name version -> path of .deb in cache
    local name="$1" ver="$2" f
    f="$(ls "$cache/debs/${name}_"*.deb 2>/dev/null | while read -r x; do
            [ "$(dpkg-deb -f "$x" Version)" = "$ver" ] && echo "$x"; done | head -1)"
    if [ -z "$f" ]; then
        log "downloading $name $ver"
        (cd "$cache/debs" && apt-get download -q "$name=$ver" >&2) || die "apt-get download $name=$ver failed"
        f="$(ls "$cache/debs/${name}_"*.deb | while read -r x; do
                [ "$(dpkg-deb -f "$x" Version)" = "$ver" ] && echo "$x"; done | head -1)"
    fi
    [ -n "$f" ] || die "download of $name $ver produced no .deb"
    echo "$f"
}
unpack() { # deb dir
    if [ ! -f "$2/.unpacked" ]; then
        log "unpacking $(basename "$1")"
        rm -rf "$2.tmp"; mkdir -p "$2.tmp"
        dpkg-deb -x "$1" "$2.tmp"
        touch "$2.tmp/.unpacked"
        rm -rf "$2"; mv "$2.tmp" "$2"
    fi
}
kdeb="$(fetch_deb "$kpkg" "$kver_pkg")"
bdeb="$(fetch_deb busybox-static "$bb_ver")"
unpack "$kdeb" "$kdir"
bdir="$cache/pkgs/busybox-static_$bb_ver"
unpack "$bdeb" "$bdir"
kver="$(ls "$kdir/lib/modules")"
[ -f "$kdir/boot/vmlinuz-$kver" ] || die "no vmlinuz in $kdeb"

# kexec-tools is dynamically linked. Its shared objects come from the
# library packages it depends on, fetched one dependency level at a time
# (one apt-get call per level) until every NEEDED entry of kexec and of the
# libraries it pulls in is found; later only those files are copied.
kxdir="$cache/pkgs/kexec-tools_$kx_ver"
unpack "$(fetch_deb kexec-tools "$kx_ver")" "$kxdir"
[ -x "$kxdir/sbin/kexec" ] || die "no sbin/kexec in kexec-tools $kx_ver"
declare -A sofile=() have_pkg=([kexec-tools]=1)
index_sos() {
    local f
    for f in "$1"/lib/x86_64-linux-gnu/*.so* "$1"/usr/lib/x86_64-linux-gnu/*.so*; do
        [ -e "$f" ] && sofile[$(basename "$f")]="$f"
    done
    return 0
}
needed() { readelf -d "$1" 2>/dev/null | sed -n 's/.*(NEEDED).*\[\(.*\)\]/\1/p'; }
kx_interp="$(readelf -l "$kxdir/sbin/kexec" | sed -n 's/.*interpreter: \(.*\)\]/\1/p')"
# Prints the sonames (and the loader) of kexec's closure that no unpacked package provides yet.
missing_sos() {
    local -A seen=()
    local queue=("$kxdir/sbin/kexec") f so miss=()
    [ -n "${sofile[$(basename "$kx_interp")]:-}" ] || miss+=("$(basename "$kx_interp")")
    while [ ${#queue[@]} -gt 0 ]; do
        f="${queue[0]}"; queue=("${queue[@]:1}")
        for so in $(needed "$f"); do
            [ -n "${seen[$so]:-}" ] && continue
            seen[$so]=1
            if [ -n "${sofile[$so]:-}" ]; then queue+=("${sofile[$so]}"); else miss+=("$so"); fi
        done
    done
    echo "${miss[@]}"
}
lib_deps() {
    apt-cache depends --no-recommends --no-suggests --no-conflicts --no-breaks --no-replaces \
        --no-enhances "$@" 2>/dev/null | awk '/Depends:/{print $2}' | sed 's/:.*//' \
        | grep -E '^(lib|zlib)' | sort -u
}
level=(kexec-tools)
for _ in 1 2 3 4 5 6; do
    miss="$(missing_sos)"
    [ -z "$miss" ] && break
    next=()
    for p in $(lib_deps "${level[@]}"); do
        [ -n "${have_pkg[$p]:-}" ] || next+=("$p")
    done
    [ ${#next[@]} -gt 0 ] || die "kexec needs $miss, which no package of its dependency closure provides"
    get=()
    for p in "${next[@]}"; do
        v="$(candidate "$p")"
        { [ -n "$v" ] && [ "$v" != "(none)" ]; } || continue
        ls "$cache/debs/${p}_"*.deb >/dev/null 2>&1 && for x in "$cache/debs/${p}_"*.deb; do
            [ "$(dpkg-deb -f "$x" Version)" = "$v" ] && continue 2; done
        get+=("$p=$v")
    done
    if [ ${#get[@]} -gt 0 ]; then
        log "downloading ${get[*]}"
        (cd "$cache/debs" && apt-get download -q "${get[@]}" >&2) || die "apt-get download ${get[*]} failed"
    fi
    for p in "${next[@]}"; do
        v="$(candidate "$p")"
        { [ -n "$v" ] && [ "$v" != "(none)" ]; } || continue
        d="$cache/pkgs/${p}_$v"
        unpack "$(fetch_deb "$p" "$v")" "$d"
        index_sos "$d"
        have_pkg[$p]=1
    done
    level=("${next[@]}")
done
miss="$(missing_sos)"
[ -z "$miss" ] || die "kexec needs $miss, not found in its dependencies"

# ------------------------------------------------------------------ tool
tool_bin="$cache/tool/calgary-guest-$tool_hash"
# One target dir per checkout: cargo uplifts every checkout's binary to the
# same path, and a checkout whose unit it deems fresh would get another
# checkout's binary from a shared one.
tdir="$cache/target/$(echo "$repo" | sha256sum | cut -c1-12)"
if [ ! -x "$tool_bin" ]; then
    log "building calgary-guest (static)"
    (cd "$repo" && RUSTFLAGS='-C target-feature=+crt-static' \
        CARGO_PROFILE_RELEASE_DEBUG=0 CARGO_PROFILE_RELEASE_STRIP=symbols \
        cargo build -q --release -p calgary-guest --target x86_64-unknown-linux-gnu \
        --target-dir "$tdir" >&2) || die "cargo build of calgary-guest failed"
    cp "$tdir/x86_64-unknown-linux-gnu/release/calgary-guest" "$tool_bin.tmp"
    mv "$tool_bin.tmp" "$tool_bin"
fi
file "$tool_bin" 2>/dev/null | grep -q 'static' || log "warning: $tool_bin does not look statically linked"

# ------------------------------------------------------------------ loader
# glibc 2.36 needs AT_RANDOM (kernel 2.6.29+) and AT_EMPTY_PATH (2.6.39+):
# every program is reached through compat-loader, which supplies the first
# and rewrites the calls that need the second on older kernels (see its header).
loader_bin="$cache/tool/compat-loader-$(sha256sum < "$here/compat-loader.c" | cut -c1-16)"
if [ ! -x "$loader_bin" ]; then
    log "building compat-loader"
    gcc -Os -static -nostdlib -ffreestanding -fno-stack-protector -fno-pie -no-pie \
        -fno-asynchronous-unwind-tables -Wall -Wextra -Werror -Wl,-Ttext-segment=0x20000000 \
        -Wl,--build-id=none -o "$loader_bin.tmp" "$here/compat-loader.c" || die "gcc compat-loader.c failed"
    mv "$loader_bin.tmp" "$loader_bin"
fi

# ------------------------------------------------------------------ modules
mroot="$kdir/lib/modules/$kver"
declare -A modpath=()
while IFS= read -r -d '' f; do
    b="$(basename "$f")"; b="${b%%.ko*}"; b="${b//-/_}"
    modpath[$b]="$f"
done < <(find "$mroot/kernel" -name '*.ko*' -print0)
mod_deps() { # path -> dependency names (from .modinfo "depends=")
    local f="$1" cat=cat
    case "$f" in *.xz) cat="xz -dc" ;; *.zst) cat="zstd -dc" ;; *.gz) cat="gzip -dc" ;; esac
    $cat "$f" | tr '\0' '\n' | grep -a -m1 '^depends=' | cut -d= -f2 | tr ',' ' '
}
declare -A seen=()
order=()
visit() {
    local n="${1//-/_}" d
    [ -n "${seen[$n]:-}" ] && return 0
    seen[$n]=1
    [ -n "${modpath[$n]:-}" ] || { log "module $n not found (built in?)"; return 0; }
    for d in $(mod_deps "${modpath[$n]}"); do visit "$d"; done
    order+=("$n")
}
for m in $WANT_MODULES; do visit "$m"; done

# ------------------------------------------------------------------ tree
work="$(mktemp -d "$cache/.assemble.XXXXXX")"
trap 'rm -rf "$work"' EXIT
root="$work/root"
mkdir -p "$root"/{bin,sbin,proc,sys,dev,tmp,etc/calgary,run,mnt,"lib/modules/$kver",lib/calgary/real}
# The real programs sit in /lib/calgary/real; /bin/busybox is the loader and
# every program name (applet, calgary-guest, kexec) a link to it.
install -m 0755 "$bdir/bin/busybox" "$root/lib/calgary/real/busybox"
install -m 0755 "$loader_bin" "$root/bin/busybox"
for app in $("$root/lib/calgary/real/busybox" --list); do
    [ "$app" = busybox ] || ln -sf busybox "$root/bin/$app"
done
install -m 0755 "$tool_bin" "$root/lib/calgary/real/calgary-guest"
ln -sf busybox "$root/bin/calgary-guest"
install -m 0755 "$kxdir/sbin/kexec" "$root/lib/calgary/real/kexec"
ln -sf ../bin/busybox "$root/sbin/kexec"
mkdir -p "$root/lib/x86_64-linux-gnu" "$root/lib64"
cp -L "${sofile[$(basename "$kx_interp")]}" "$root$kx_interp"
queue=("$root/lib/calgary/real/kexec")
declare -A copied=()
while [ ${#queue[@]} -gt 0 ]; do
    f="${queue[0]}"; queue=("${queue[@]:1}")
    for so in $(needed "$f"); do
        [ -n "${copied[$so]:-}" ] && continue
        cp -L "${sofile[$so]}" "$root/lib/x86_64-linux-gnu/$so"
        copied[$so]=1
        queue+=("$root/lib/x86_64-linux-gnu/$so")
    done
done
log "kexec-tools $kx_ver with ${!copied[*]}"
install -m 0755 "$here/init" "$root/init"
install -m 0755 "$here/udhcpc.sh" "$root/etc/calgary/udhcpc.sh"
list="$root/lib/modules/$kver/calgary-modules.list"
: > "$list"
for n in "${order[@]}"; do
    src="${modpath[$n]}"
    rel="${src#"$mroot"/}"
    dst="$root/lib/modules/$kver/${rel%%.ko*}.ko"
    mkdir -p "$(dirname "$dst")"
    case "$src" in   # decompress at assembly time: no reliance on insmod support
        *.ko.xz) xz -dc "$src" > "$dst" ;;
        *.ko.zst) zstd -qdc "$src" > "$dst" ;;
        *.ko.gz) gzip -dc "$src" > "$dst" ;;
        *) cp "$src" "$dst" ;;
    esac
    echo "${rel%%.ko*}.ko" >> "$list"
done
log "modules (load order): ${order[*]}"
cat > "$root/etc/calgary/manifest" <<EOF
kernel-package $kpkg $kver_pkg
busybox-static $bb_ver
kexec-tools $kx_ver
calgary-guest $tool_hash
modules ${order[*]}
EOF

# Reproducible archive: fixed mtimes, sorted names, root ownership, gzip -n.
find "$root" -exec touch -h -d @0 {} +
repro=""
cpio --help 2>/dev/null | grep -q -- --reproducible && repro="--reproducible"
(cd "$root" && find . -mindepth 1 | LC_ALL=C sort | cpio --quiet -o -H newc -R 0:0 $repro) | gzip -9n > "$work/initrd.gz"
mv "$work/initrd.gz" "$initrd"
# Keep only the newest few initramfs images.
ls -t "$cache"/initramfs-*.cpio.gz 2>/dev/null | tail -n +6 | xargs -r rm -f
log "assembled $initrd ($(du -h "$initrd" | cut -f1))"
emit | tee "$cache/current.env"
