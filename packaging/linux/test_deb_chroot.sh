#!/usr/bin/env bash
# Install the .deb (and the .run) into a fresh minimal Debian root and run them there.
#   packaging/linux/test_deb_chroot.sh [DEB] [--real-model MODEL --real-input IMAGE]
# Root only (chroot, mounts). The base root is made once with debootstrap (minbase bookworm,
# needs the Debian mirror) into build/debroot-base and copied afresh for every run, so each
# test starts from a root with no Python, no fonts, no X or GL libraries. Inside it:
# `apt-get install ./featurescope.deb` (pulls the Depends), then packaging/smoke_test.sh on
# /usr/bin/featurescope; then the .run installs beside it and is smoke-tested too.
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
root="$(cd "$here/../.." && pwd)"
# shellcheck source=packaging/_common.sh
. "$here/../_common.sh"
version="$(project_version "$root")"
deb="$root/dist/featurescope_${version}_amd64.deb"
run="$root/dist/featurescope-$version-linux-x86_64-cpu.run"
smoke_args=() cp_in=()
while [ $# -gt 0 ]; do
  case "$1" in
    --real-model|--real-input) smoke_args+=("$1" "/tmp/$(basename "$2")"); cp_in+=("$2"); shift 2 ;;
    *) deb="$1"; shift ;;
  esac
done
[ "$(id -u)" = 0 ] || { echo "needs root (chroot)" >&2; exit 1; }
[ -f "$deb" ] || { echo "no $deb (make deb)" >&2; exit 1; }
base="$root/build/debroot-base"
suite="${FEATURESCOPE_DEBIAN_SUITE:-bookworm}"
mirror="${FEATURESCOPE_DEBIAN_MIRROR:-http://deb.debian.org/debian}"
if [ ! -f "$base/.complete-$suite" ]; then
  rm -rf "$base"
  start=$(date +%s)
  debootstrap --variant=minbase "$suite" "$base" "$mirror" >/dev/null
  touch "$base/.complete-$suite"
  echo "debootstrap $suite: $(($(date +%s) - start)) s"
fi
test_root="$root/build/debroot-test"
cleanup() {
  for m in dev/pts dev proc; do mountpoint -q "$test_root/$m" && umount -l "$test_root/$m"; done
  return 0
}
trap cleanup EXIT
cleanup; rm -rf "$test_root"; cp -a "$base" "$test_root"
mount -t proc proc "$test_root/proc"; mount --bind /dev "$test_root/dev"; mount --bind /dev/pts "$test_root/dev/pts"
cp /etc/resolv.conf "$test_root/etc/resolv.conf"
cp "$deb" "$test_root/tmp/featurescope.deb"
cp "$here/../smoke_test.sh" "$test_root/tmp/smoke_test.sh"
for f in "${cp_in[@]:-}"; do [ -n "$f" ] && cp "$f" "$test_root/tmp/"; done
in_root() { chroot "$test_root" env -i PATH=/usr/sbin:/usr/bin:/sbin:/bin HOME=/root DEBIAN_FRONTEND=noninteractive "$@"; }

in_root sh -c '! command -v python3' >/dev/null || { echo "the fresh root has a python3" >&2; exit 1; }
start=$(date +%s)
in_root apt-get update -qq
in_root apt-get install -y -qq --no-install-recommends /tmp/featurescope.deb >/tmp/fs-apt.log 2>&1 || { tail -30 /tmp/fs-apt.log; exit 1; }
echo "apt-get install ./featurescope.deb: $(($(date +%s) - start)) s, $(in_root dpkg-query -W -f='${Installed-Size}\n' featurescope) KiB"
in_root sh -c '! command -v python3 && ! ls /usr/lib/python3* >/dev/null 2>&1' || { echo "installing the .deb pulled in Python" >&2; exit 1; }
in_root dpkg -L featurescope | grep -E '^/usr/(bin|share/applications|share/icons)/' 
echo "--- smoke test of the installed .deb (/usr/bin/featurescope)"
in_root bash /tmp/smoke_test.sh /usr/bin/featurescope "${smoke_args[@]}"
if [ -f "$run" ]; then
  echo "--- the .run installer, beside it (PREFIX=/opt/featurescope-run)"
  cp "$run" "$test_root/tmp/featurescope.run"
  in_root env PREFIX=/opt/featurescope-run sh /tmp/featurescope.run
  in_root bash /tmp/smoke_test.sh /usr/local/bin/featurescope "${smoke_args[@]}"
fi
