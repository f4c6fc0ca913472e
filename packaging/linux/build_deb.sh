#!/usr/bin/env bash
# Build the .deb from the bundle:  packaging/linux/build_deb.sh [cpu|cuda]   (make deb)
# Needs dist/FLAVOUR/featurescope (packaging/build_bundle.sh FLAVOUR) and dpkg-deb.
# Layout: /opt/featurescope (the bundle), /usr/bin/featurescope (launcher), desktop entry,
# icons, MIME type for *.onnx, /usr/share/doc/featurescope/copyright.
# Output: dist/featurescope_VERSION_amd64.deb (CPU) or dist/featurescope-cuda_VERSION_amd64.deb
set -euo pipefail
flavour="${1:-cpu}"
here="$(cd "$(dirname "$0")" && pwd)"
root="$(cd "$here/../.." && pwd)"
# shellcheck source=packaging/_common.sh
. "$here/../_common.sh"
version="$(project_version "$root")"
bundle="$root/dist/$flavour/featurescope"
[ -x "$bundle/featurescope" ] || { echo "build the bundle first: packaging/build_bundle.sh $flavour" >&2; exit 1; }
package=featurescope; other=featurescope-cuda
[ "$flavour" = cuda ] && { package=featurescope-cuda; other=featurescope; }

stage="$root/build/deb-$flavour"
rm -rf "$stage"
mkdir -p "$stage/DEBIAN" "$stage/opt" "$stage/usr/bin" "$stage/usr/share/applications" \
         "$stage/usr/share/icons/hicolor/256x256/apps" "$stage/usr/share/icons/hicolor/scalable/apps" \
         "$stage/usr/share/mime/packages" "$stage/usr/share/doc/$package"
cp -a "$bundle" "$stage/opt/featurescope"
install -m 0755 "$here/launcher.sh" "$stage/usr/bin/featurescope"
install -m 0644 "$here/featurescope.desktop" "$stage/usr/share/applications/featurescope.desktop"
install -m 0644 "$root/resources/icons/featurescope.png" "$stage/usr/share/icons/hicolor/256x256/apps/featurescope.png"
install -m 0644 "$root/resources/icons/featurescope.svg" "$stage/usr/share/icons/hicolor/scalable/apps/featurescope.svg"
install -m 0644 "$here/featurescope-mime.xml" "$stage/usr/share/mime/packages/featurescope.xml"
cat > "$stage/usr/share/doc/$package/copyright" <<COPY
Format: https://www.debian.org/doc/packaging-manuals/copyright-format/1.0/
Upstream-Name: featurescope

Files: *
License: Apache-2.0
 On Debian systems the full text is in /usr/share/common-licenses/Apache-2.0.
Comment:
 The bundle in /opt/featurescope contains third-party libraries (Qt and Qt for Python
 under LGPL-3.0, onnxruntime, ONNX, NumPy, OpenCV, Pillow, pyqtgraph, the Python runtime);
 their licence files are in /opt/featurescope/_internal/third_party_licenses. The demo
 model's and images' provenance and licences are in
 /opt/featurescope/_internal/resources/README.md and resources/licenses.
COPY
find "$stage" -type d -exec chmod 0755 {} +

# Depends: the packages of the libraries the bundle takes from the host (HOST_LIBS in
# packaging/bundle_filters.py), OpenGL/EGL and Wayland (loaded by Qt), fontconfig and a font
# (without one every label is a box), glibc >= 2.35 and GCC 12's libstdc++ (the newest
# symbol versions the bundle's binaries use: tests/packaging and README "Linux releases").
depends="$(cd "$here/.." && "$(find_python)" -c '
import bundle_filters as bf
pkgs = sorted(set(bf.HOST_LIBS.values()) | set(bf.SYSTEM_ONLY_PACKAGES))
pkgs = [{"libstdc++6": "libstdc++6 (>= 12)"}.get(p, p) for p in pkgs]
print(", ".join(["libc6 (>= 2.35)", *pkgs]))')"
description="Feature maps and attributions of ONNX convolutional networks"
extra=""
if [ "$flavour" = cuda ]; then
  description="$description (CUDA build)"
  extra=" This build carries onnxruntime-gpu with the CUDA 13 runtime, cuBLAS, cuDNN 9,
 cuFFT and cuRAND; it needs only the NVIDIA driver (>= 580) on the system and runs
 on the CPU, saying why, where there is no usable GPU."
fi
{
  echo "Package: $package"
  echo "Version: $version"
  echo "Architecture: amd64"
  echo "Maintainer: Featurescope maintainers <featurescope@users.noreply.invalid>"
  echo "Installed-Size: $(du -sk --exclude=DEBIAN "$stage" | cut -f1)"
  echo "Depends: $depends"
  echo "Conflicts: $other"
  echo "Replaces: $other"
  echo "Section: science"
  echo "Priority: optional"
  echo "Description: $description"
  echo " Featurescope opens any exported ONNX convolutional network, runs it on your own"
  echo " images and shows every convolution layer's feature maps, with gradient-free"
  echo " attributions (occlusion, Score-CAM, Ablation-CAM, Eigen-CAM, RISE). The"
  echo " command line (featurescope inspect|maps|attribute) runs the same engine headless."
  [ -z "$extra" ] || echo "$extra"
} > "$stage/DEBIAN/control"

out="$root/dist/${package}_${version}_amd64.deb"
start=$(date +%s)
SOURCE_DATE_EPOCH="${SOURCE_DATE_EPOCH:-$(git -C "$root" log -1 --format=%ct 2>/dev/null || date +%s)}" \
  dpkg-deb --root-owner-group -Z"${FEATURESCOPE_DEB_COMPRESS:-xz}" --build "$stage" "$out" >/dev/null
echo "deb: $out ($(du -m "$out" | cut -f1) MB, $(($(date +%s) - start)) s)"
