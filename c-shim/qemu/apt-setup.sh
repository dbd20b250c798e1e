#!/usr/bin/env bash
# Install the Debian packages the QEMU build and a Calgary guest run need, and
# add a deb-src entry for bookworm-backports derived from this machine's own
# Debian apt source (its URI is copied, never written into the repository).
# Idempotent: installs only what is missing, writes the source entry once.
set -euo pipefail

BUILD_PKGS=(build-essential ninja-build pkg-config libglib2.0-dev libpixman-1-dev
            libslirp-dev libfdt-dev flex bison python3-venv libclang-dev ccache
            xz-utils dpkg-dev git)
# fonts-dejavu-core: the TrueType font (DejaVu Sans) that the benchmark's
# charts are labelled with (calgary-bench-host plot reads it at run time).
RUN_PKGS=(seabios ipxe-qemu qemu-system-data fonts-dejavu-core)
SRC_LIST=/etc/apt/sources.list.d/calgary-qemu-src.sources
# Every command our scripts and runners call, with its package (one list,
# guarded by hw-tests/test_setup_tools.py).
TOOLS_LIST="$(dirname "${BASH_SOURCE[0]}")/host-tools.txt"
# A third column names the build flavor (c-shim/qemu/build.sh) that alone
# needs the command, e.g. clang for the fuzzer: installed with --flavor only.
PRINT=0 FLAVOR=""
while [ $# -gt 0 ]; do
    case "$1" in
        --print-packages) PRINT=1 ;;
        --flavor) FLAVOR=${2:-}; shift ;;
        *) echo "apt-setup.sh: unknown option $1" >&2; exit 2 ;;
    esac
    shift
done
TOOL_PKGS=()
in_flavor() { [ -z "$1" ] || [ "$1" = "$FLAVOR" ]; }
while read -r cmd pkg only _; do
    case "$cmd" in ''|'#'*) continue ;; esac
    in_flavor "$only" || continue
    case "$pkg" in @*) ;; *) TOOL_PKGS+=("$pkg") ;; esac
done < "$TOOLS_LIST"
# libFuzzer's runtime is a library, not a command.
[ "$FLAVOR" = fuzz ] && TOOL_PKGS+=(libclang-rt-14-dev)

if [ $PRINT = 1 ]; then
    printf '%s\n' "${BUILD_PKGS[@]}" "${RUN_PKGS[@]}" "${TOOL_PKGS[@]}" | sort -u
    exit 0
fi

sudo_() { if [ "$(id -u)" = 0 ]; then "$@"; else sudo "$@"; fi; }

# The URI of the machine's main Debian archive: first deb822 stanza whose
# Suites line names a plain release (not -security), else a one-line entry.
debian_uri() {
    local f uri=""
    for f in /etc/apt/sources.list.d/*.sources; do
        [ -r "$f" ] || continue
        uri=$(awk 'BEGIN{RS="";FS="\n"}
             { u=""; s=""; t="";
               for(i=1;i<=NF;i++){
                 if($i ~ /^URIs:/){u=$i; sub(/^URIs:[ \t]*/,"",u); sub(/[ \t].*/,"",u)}
                 if($i ~ /^Suites:/){s=$i}
                 if($i ~ /^Types:/){t=$i} }
               if(t ~ /deb/ && s ~ /bookworm/ && s !~ /security/ && u != ""){print u; exit} }' "$f")
        [ -n "$uri" ] && { echo "$uri"; return 0; }
    done
    if [ -r /etc/apt/sources.list ]; then
        uri=$(awk '$1=="deb" && $0 ~ /bookworm/ && $0 !~ /security/ {for(i=2;i<=NF;i++) if($i ~ /^[a-z]+:\/\//){print $i; exit}}' /etc/apt/sources.list)
        [ -n "$uri" ] && { echo "$uri"; return 0; }
    fi
    return 1
}

need_update=0
if [ ! -f "$SRC_LIST" ]; then
    uri=$(debian_uri) || { echo "calgary setup: no Debian bookworm apt source found on this machine; cannot derive a deb-src entry" >&2; exit 1; }
    keyring=/usr/share/keyrings/debian-archive-keyring.gpg
    {
        echo "# Added by Calgary-for-QEMU setup: the QEMU source package (deb-src)"
        echo "# from bookworm-backports, same mirror as the main Debian source."
        echo "Types: deb-src"
        echo "URIs: $uri"
        echo "Suites: bookworm-backports"
        echo "Components: main"
        [ -f "$keyring" ] && echo "Signed-By: $keyring"
    } | sudo_ tee "$SRC_LIST.tmp" >/dev/null
    sudo_ mv "$SRC_LIST.tmp" "$SRC_LIST"
    need_update=1
fi

missing=()
for p in $(printf '%s\n' "${BUILD_PKGS[@]}" "${RUN_PKGS[@]}" "${TOOL_PKGS[@]}" | sort -u); do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if [ ${#missing[@]} -gt 0 ] || [ $need_update = 1 ]; then
    echo "calgary setup: apt-get update"
    sudo_ apt-get update -qq
fi
if [ ${#missing[@]} -gt 0 ]; then
    echo "calgary setup: installing ${missing[*]}"
    sudo_ env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi

# Every command the scripts call must now be there.
absent=()
while read -r cmd pkg only _; do
    case "$cmd" in ''|'#'*) continue ;; esac
    in_flavor "$only" || continue
    case "$pkg" in
        @sudo) [ "$(id -u)" = 0 ] && continue ;;
    esac
    command -v "$cmd" >/dev/null 2>&1 || absent+=("$cmd ($pkg)")
done < "$TOOLS_LIST"
if [ ${#absent[@]} -gt 0 ]; then
    echo "calgary setup: commands still missing after setup: ${absent[*]}" >&2
    exit 1
fi
