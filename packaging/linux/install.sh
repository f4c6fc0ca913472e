#!/bin/sh
# Install Featurescope from this folder (the .tar.gz's folder, or the .run's extracted copy).
#   ./install.sh              for you: ~/.local/share/featurescope, ~/.local/bin/featurescope,
#                             a menu entry; as root: /opt/featurescope, /usr/local/bin
#   ./install.sh --uninstall  remove what the same user/root install put there
# Nothing else is needed: the folder carries its own Python and libraries. Without installing,
# ./featurescope starts it in place.
set -eu
src="$(cd "$(dirname "$0")" && pwd)"
if [ "$(id -u)" = 0 ]; then
  prefix="${PREFIX:-/opt/featurescope}"; bindir=/usr/local/bin; share=/usr/local/share
else
  share="${XDG_DATA_HOME:-$HOME/.local/share}"
  prefix="${PREFIX:-$share/featurescope}"; bindir="$HOME/.local/bin"
fi
desktop="$share/applications/featurescope.desktop"
icon="$share/icons/hicolor/256x256/apps/featurescope.png"

if [ "${1:-}" = "--uninstall" ]; then
  rm -rf "$prefix"; rm -f "$bindir/featurescope" "$desktop" "$icon"
  echo "Featurescope removed from $prefix"
  exit 0
fi
[ -x "$src/featurescope" ] || { echo "run install.sh from the unpacked Featurescope folder" >&2; exit 1; }
case "$prefix" in /|"$HOME"|/usr|/opt|/usr/local) echo "refusing to install into $prefix" >&2; exit 1 ;; esac
rm -rf "$prefix.new"
mkdir -p "$prefix.new" "$bindir" "$(dirname "$desktop")" "$(dirname "$icon")"
cp -a "$src/featurescope" "$src/_internal" "$prefix.new/"
rm -rf "$prefix"; mv "$prefix.new" "$prefix"
ln -sf "$prefix/featurescope" "$bindir/featurescope"
cp "$prefix/_internal/resources/icons/featurescope.png" "$icon"
sed -e "s|^Exec=.*|Exec=$prefix/featurescope %f|" -e "s|^TryExec=.*|TryExec=$prefix/featurescope|" \
    -e "s|^Icon=.*|Icon=$icon|" "$src/featurescope.desktop" > "$desktop"
command -v update-desktop-database >/dev/null 2>&1 && update-desktop-database -q "$(dirname "$desktop")" || true
echo "Featurescope installed in $prefix"
echo "Start it from the applications menu or with: $bindir/featurescope"
case ":$PATH:" in *":$bindir:"*) ;; *) echo "($bindir is not on your PATH)";; esac
