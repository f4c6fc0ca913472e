#!/usr/bin/env bash
# Build the one-folder bundle: packaging/build_bundle.sh cpu|cuda   (make package / package-cuda)
#
# 1. a build venv (build/venv-FLAVOUR) installed from the hashed lock only (--require-hashes,
#    wheels only), recreated when the lock changes;
# 2. PyInstaller with packaging/featurescope.spec -> dist/FLAVOUR/featurescope/ (Linux, and
#    dist/FLAVOUR/Featurescope.app on macOS);
# 3. dist/FLAVOUR/build-info.txt: version, flavour, lock hash, sizes, seconds per step.
# Works on Linux and macOS (CPU flavour only there); Windows: packaging/windows/build.ps1.
set -euo pipefail
flavour="${1:-cpu}"
case "$flavour" in cpu|cuda) ;; *) echo "usage: $0 cpu|cuda" >&2; exit 2 ;; esac
here="$(cd "$(dirname "$0")" && pwd)"
root="$(cd "$here/.." && pwd)"
# shellcheck source=packaging/_common.sh
. "$here/_common.sh"
version="$(project_version "$root")"

lock="$here/constraints-cpu.txt"
if [ "$flavour" = cuda ]; then
  case "$(uname -s)" in
    Linux) lock="$here/constraints-cuda-linux.txt" ;;
    *) echo "the CUDA flavour is built on Linux (here) or Windows (packaging/windows/build.ps1)" >&2; exit 2 ;;
  esac
fi
venv="$root/build/venv-$flavour"
dist="$root/dist/$flavour"
work="$root/build/pyinstaller-$flavour"
lock_sum="$(sha256sum "$lock" 2>/dev/null || shasum -a 256 "$lock")"
lock_sum="${lock_sum%% *}"

t0=$(date +%s)
if [ ! -f "$venv/.lock-$lock_sum" ]; then
  rm -rf "$venv"
  "$(find_python)" -m venv "$venv"
  # --require-hashes: every file must match the lock; --only-binary: no source builds;
  # --no-deps: the lock is complete (a missing pin fails instead of resolving anew).
  "$venv/bin/python" -m pip install -q --disable-pip-version-check --no-deps \
      --require-hashes --only-binary=:all: -r "$lock"
  touch "$venv/.lock-$lock_sum"
fi
t1=$(date +%s)

rm -rf "$dist"
mkdir -p "$dist"
FEATURESCOPE_FLAVOUR="$flavour" PYTHONHASHSEED=0 SOURCE_DATE_EPOCH="${SOURCE_DATE_EPOCH:-$(git -C "$root" log -1 --format=%ct 2>/dev/null || date +%s)}" \
  "$venv/bin/python" -m PyInstaller --noconfirm --clean --log-level WARN \
      --distpath "$dist" --workpath "$work" "$here/featurescope.spec"
t2=$(date +%s)

bundle="$dist/featurescope"
[ -x "$bundle/featurescope" ] || { echo "no executable in $bundle" >&2; exit 1; }
size_mb=$(du -sm "$bundle" | cut -f1)
{
  echo "version=$version"
  echo "flavour=$flavour"
  echo "platform=$(uname -sm)"
  echo "lock=$(basename "$lock") sha256=$lock_sum"
  echo "python=$("$venv/bin/python" -c 'import platform; print(platform.python_version())')"
  echo "venv_seconds=$((t1 - t0))"
  echo "pyinstaller_seconds=$((t2 - t1))"
  echo "bundle_mb=$size_mb"
  echo "files=$(find "$bundle" -type f | wc -l)"
} > "$dist/build-info.txt"
cat "$dist/build-info.txt"
echo "bundle: $bundle ($size_mb MB)"
