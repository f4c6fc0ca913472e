#!/usr/bin/env bash
# Build Featurescope.app and a .dmg on macOS 13+ (Apple silicon or Intel; builds for the
# machine's own architecture):   packaging/macos/build_dmg.sh
# Needs: Python 3.12 from python.org or Homebrew (python3.12 on PATH), Xcode command line tools
# (codesign, hdiutil). CPU flavour only: there is no CUDA on macOS (onnxruntime's CoreML
# provider is not used by the engine yet).
# Optional signing and notarisation (without them Gatekeeper asks the user to allow the app
# once in System Settings > Privacy & Security):
#   FEATURESCOPE_MAC_IDENTITY="Developer ID Application: NAME (TEAMID)"
#   FEATURESCOPE_NOTARY_PROFILE=PROFILE   (made once with: xcrun notarytool store-credentials)
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
root="$(cd "$here/../.." && pwd)"
# shellcheck source=packaging/_common.sh
. "$here/../_common.sh"
[ "$(uname -s)" = Darwin ] || { echo "build the macOS app on macOS" >&2; exit 2; }
version="$(project_version "$root")"
arch="$(uname -m)"

"$here/../build_bundle.sh" cpu          # the spec's BUNDLE step makes dist/cpu/Featurescope.app
app="$root/dist/cpu/Featurescope.app"
[ -d "$app" ] || { echo "no $app" >&2; exit 1; }
"$app/Contents/MacOS/featurescope" --info   # the frozen app finds its resources and providers

if [ -n "${FEATURESCOPE_MAC_IDENTITY:-}" ]; then
  # Sign inside-out with the hardened runtime (needed for notarisation).
  find "$app/Contents" -type f \( -name "*.so" -o -name "*.dylib" \) -print0 |
    xargs -0 codesign --force --timestamp --options runtime --sign "$FEATURESCOPE_MAC_IDENTITY"
  codesign --force --timestamp --options runtime --sign "$FEATURESCOPE_MAC_IDENTITY" "$app"
  codesign --verify --deep --strict "$app"
fi

stage="$root/build/dmg"
rm -rf "$stage"; mkdir -p "$stage"
cp -R "$app" "$stage/"
ln -s /Applications "$stage/Applications"
dmg="$root/dist/featurescope-$version-macos-$arch.dmg"
rm -f "$dmg"
hdiutil create -volname "Featurescope $version" -srcfolder "$stage" -fs HFS+ -format UDZO -ov "$dmg"
if [ -n "${FEATURESCOPE_MAC_IDENTITY:-}" ]; then
  codesign --force --timestamp --sign "$FEATURESCOPE_MAC_IDENTITY" "$dmg"
  if [ -n "${FEATURESCOPE_NOTARY_PROFILE:-}" ]; then
    xcrun notarytool submit "$dmg" --keychain-profile "$FEATURESCOPE_NOTARY_PROFILE" --wait
    xcrun stapler staple "$dmg"
  fi
fi
echo "dmg: $dmg ($(du -m "$dmg" | cut -f1) MB)"
