#!/usr/bin/env bash
# Smoke test of a built bundle or an installed launcher, in a clean environment:
#   packaging/smoke_test.sh [LAUNCHER] [--real-model MODEL.onnx --real-input IMAGE [--real-args "..."]]
# LAUNCHER defaults to dist/cpu/featurescope/featurescope (also /usr/bin/featurescope after
# installing the .deb). Every run is `env -i` with HOME in a temporary folder and a PATH that
# holds the system's tools minus any python (so nothing can fall back on a Python install).
# Checks: --info, inspect + maps on the demo, inspect + maps on a real model, the GUI offscreen
# (--screenshot: opens the demo, waits for the mosaic, saves a PNG, exits 0), and the same on
# a real X server (xcb) when xvfb-run is installed.
# Prints one line per check and "N passed, N failed"; exits 1 if any check failed.
set -uo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
launcher="$here/../dist/cpu/featurescope/featurescope"
real_model="" real_input="" real_args="--preset paddle --size 320x320"
while [ $# -gt 0 ]; do
  case "$1" in
    --real-model) real_model="$2"; shift 2 ;;
    --real-input) real_input="$2"; shift 2 ;;
    --real-args) real_args="$2"; shift 2 ;;
    -h|--help) sed -n '2,10p' "$0"; exit 0 ;;
    *) launcher="$1"; shift ;;
  esac
done
[ -x "$launcher" ] || { echo "no launcher at $launcher (build it: make package)" >&2; exit 2; }
launcher="$(cd "$(dirname "$launcher")" && pwd)/$(basename "$launcher")"
tmp="$(mktemp -d "${TMPDIR:-/tmp}/fs-smoke.XXXXXX")"
trap 'rm -rf "$tmp"' EXIT
mkdir -p "$tmp/home" "$tmp/bin"
# A PATH without python: the system's tool folders, python* left out.
for dir in /usr/bin /bin; do
  for tool in "$dir"/*; do
    name="$(basename "$tool")"
    case "$name" in python*|pip*|pydoc*|2to3*|idle*) continue ;; esac
    [ -e "$tmp/bin/$name" ] || ln -s "$tool" "$tmp/bin/$name"
  done
done
clean_env=(env -i "PATH=$tmp/bin" "HOME=$tmp/home" "TMPDIR=$tmp")
passed=0 failed=0
check() {  # check NAME COMMAND... : run, keep the output, count
  local name="$1"; shift
  local start=$SECONDS
  if "$@" >"$tmp/$name.log" 2>&1; then
    passed=$((passed + 1)); echo "ok   $name ($((SECONDS - start)) s)"
  else
    failed=$((failed + 1)); echo "FAIL $name ($((SECONDS - start)) s)"; sed 's/^/     | /' "$tmp/$name.log" | tail -25
  fi
}
run() { "${clean_env[@]}" "$@"; }
has() { grep -q -- "$1" "$tmp/$2.log" || { echo "expected '$1' in the output of $2" >>"$tmp/$2.log"; return 1; }; }

check no-python-on-path bash -c "! ${clean_env[*]} sh -c 'command -v python3 || command -v python'"
check info bash -c "${clean_env[*]@Q} ${launcher@Q} --info | tee $tmp/info.out &&
  grep -q '^featurescope [0-9]' $tmp/info.out && grep -q '^demo model .*(present)' $tmp/info.out &&
  grep -q '^available providers .*CPUExecutionProvider' $tmp/info.out"
# The demo as the bundle itself reports it (app.paths, frozen): proves resources are found.
demo="$(sed -n 's/^demo model \(.*\) (present)$/\1/p' "$tmp/info.out" 2>/dev/null)"
[ -f "$demo" ] || { echo "the bundle did not report its demo model"; demo=/nonexistent/demo.onnx; }
image="$(dirname "$demo")/../images/chelsea.png"
check inspect-demo bash -c "${clean_env[*]@Q} ${launcher@Q} inspect ${demo@Q} | tee $tmp/i.out && grep -q 'efficientnet_lite0.onnx' $tmp/i.out"
check maps-demo bash -c "${clean_env[*]@Q} ${launcher@Q} maps ${demo@Q} ${image@Q} --out $tmp/maps-demo &&
  test -f $tmp/maps-demo/manifest.json && test \$(ls -d $tmp/maps-demo/*/ | wc -l) -eq 49"
if [ -n "$real_model" ]; then
  real_model="$(readlink -f "$real_model")"; real_input="$(readlink -f "${real_input:-$image}")"
  check inspect-real bash -c "${clean_env[*]@Q} ${launcher@Q} inspect ${real_model@Q}"
  # shellcheck disable=SC2086
  check maps-real bash -c "${clean_env[*]@Q} ${launcher@Q} maps ${real_model@Q} ${real_input@Q} $real_args --out $tmp/maps-real &&
    test -f $tmp/maps-real/manifest.json"
else
  echo "skip real model (pass --real-model MODEL --real-input IMAGE)"
fi
check gui-screenshot bash -c "${clean_env[*]@Q} QT_QPA_PLATFORM=offscreen ${launcher@Q} --screenshot $tmp/shot.png --timeout 120 &&
  test -s $tmp/shot.png && head -c 8 $tmp/shot.png | od -An -c | grep -q 'P   N   G'"
# A real X server too (the xcb plugin, bundled xcb/xkb libraries, host libGL) when Xvfb is here.
if command -v xvfb-run >/dev/null 2>&1; then
  check gui-xcb xvfb-run -a -s "-screen 0 1600x1000x24" sh -c "exec ${clean_env[*]@Q} \"DISPLAY=\$DISPLAY\" \"XAUTHORITY=\$XAUTHORITY\" QT_QPA_PLATFORM=xcb ${launcher@Q} --screenshot $tmp/shot-xcb.png --timeout 120 && test -s $tmp/shot-xcb.png"
else
  echo "skip gui-xcb (no xvfb-run)"
fi
if [ -n "${FEATURESCOPE_SMOKE_KEEP:-}" ] && [ -f "$tmp/shot.png" ]; then cp "$tmp/shot.png" "$FEATURESCOPE_SMOKE_KEEP"; fi
echo "$passed passed, $failed failed"
[ "$failed" -eq 0 ]
