#!/usr/bin/env bash
# Self-contained Linux archives of the bundle:  packaging/linux/build_archives.sh [cpu|cuda] [tar|run|all]
#   tar: dist/featurescope-VERSION-linux-x86_64-FLAVOUR.tar.gz  (unpack; ./featurescope, or ./install.sh)
#   run: dist/featurescope-VERSION-linux-x86_64-FLAVOUR.run     (makeself: sh FILE.run installs)
# Needs dist/FLAVOUR/featurescope (packaging/build_bundle.sh FLAVOUR); makeself for .run.
set -euo pipefail
flavour="${1:-cpu}" what="${2:-all}"
here="$(cd "$(dirname "$0")" && pwd)"
root="$(cd "$here/../.." && pwd)"
# shellcheck source=packaging/_common.sh
. "$here/../_common.sh"
version="$(project_version "$root")"
bundle="$root/dist/$flavour/featurescope"
[ -x "$bundle/featurescope" ] || { echo "build the bundle first: packaging/build_bundle.sh $flavour" >&2; exit 1; }
name="featurescope-$version-linux-x86_64-$flavour"
stage="$root/build/archive-$flavour/$name"
export SOURCE_DATE_EPOCH="${SOURCE_DATE_EPOCH:-$(git -C "$root" log -1 --format=%ct 2>/dev/null || date +%s)}"

rm -rf "$(dirname "$stage")"; mkdir -p "$stage"
cp -a "$bundle/featurescope" "$bundle/_internal" "$stage/"
install -m 0755 "$here/install.sh" "$stage/install.sh"
install -m 0644 "$here/featurescope.desktop" "$stage/featurescope.desktop"
cat > "$stage/README.txt" <<TXT
Featurescope $version ($flavour build) for 64-bit Linux with glibc 2.35 or newer
(Debian 12, Ubuntu 22.04, Fedora 36 and later).

Start in place:      ./featurescope            (the demo model opens)
Install for you:     ./install.sh              (menu entry, ~/.local/bin/featurescope)
Uninstall:           ./install.sh --uninstall
Command line:        ./featurescope inspect MODEL.onnx
                     ./featurescope maps MODEL.onnx IMAGE --out DIR
Versions, GPU:       ./featurescope --info

The system must have OpenGL/EGL (libgl1, libegl1), fontconfig and at least one font; every
desktop installation has them.
TXT

if [ "$what" = tar ] || [ "$what" = all ]; then
  start=$(date +%s)
  out="$root/dist/$name.tar.gz"
  tar --sort=name --mtime="@$SOURCE_DATE_EPOCH" --owner=0 --group=0 --numeric-owner \
      -C "$(dirname "$stage")" -cf - "$name" | gzip -n -6 > "$out"
  echo "tar.gz: $out ($(du -m "$out" | cut -f1) MB, $(($(date +%s) - start)) s)"
fi
if [ "$what" = all ] && ! command -v makeself >/dev/null; then
  echo "no .run: makeself is not installed (Debian: apt-get install makeself)" >&2
elif [ "$what" = run ] || [ "$what" = all ]; then
  command -v makeself >/dev/null || { echo "makeself is needed (apt-get install makeself)" >&2; exit 1; }
  start=$(date +%s)
  out="$root/dist/$name.run"
  makeself --quiet --gzip --tar-quietly --packaging-date "$(date -u -d "@$SOURCE_DATE_EPOCH")" \
      "$stage" "$out" "Featurescope $version ($flavour)" ./install.sh >/dev/null
  echo "run: $out ($(du -m "$out" | cut -f1) MB, $(($(date +%s) - start)) s)"
fi
