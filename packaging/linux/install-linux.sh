#!/usr/bin/env bash
# Install the LostPet bundle this script sits in, for the current user (no root needed):
#   ./install-linux.sh              copy to ~/.local/opt/LostPet, add the menu entry, icon and lostpet-cli
#   ./install-linux.sh --uninstall  remove them again (the registry in ~/.local/share/LostPet stays)
# PREFIX=/opt sudo ./install-linux.sh installs for every user (menu entry in /usr/share/applications).
set -euo pipefail
HERE="$(cd "$(dirname "$0")" && pwd)"
if [ "$(id -u)" = 0 ] && [ -z "${PREFIX:-}" ]; then PREFIX=/opt; fi
PREFIX="${PREFIX:-$HOME/.local/opt}"
if [ "$PREFIX" = /opt ]; then
  SHARE=/usr/share; BIN=/usr/local/bin
else
  SHARE="${XDG_DATA_HOME:-$HOME/.local/share}"; BIN="$HOME/.local/bin"
fi
DEST="$PREFIX/LostPet"

if [ "${1:-}" = "--uninstall" ]; then
  rm -rf "$DEST" "$SHARE/applications/lostpet.desktop" "$BIN/lostpet-cli"
  rm -f "$SHARE"/icons/hicolor/*/apps/lostpet.png "$SHARE/icons/hicolor/scalable/apps/lostpet.svg"
  command -v gtk-update-icon-cache >/dev/null && gtk-update-icon-cache -q -t "$SHARE/icons/hicolor" 2>/dev/null || true
  echo "LostPet removed. The dogs and photos stay in each user's data folder (~/.local/share/LostPet)."
  exit 0
fi

[ -x "$HERE/LostPet" ] || { echo "install-linux.sh: run me from the unpacked LostPet folder" >&2; exit 1; }
mkdir -p "$PREFIX" "$SHARE/applications" "$BIN"
if [ "$HERE" != "$DEST" ]; then
  rm -rf "$DEST.new"
  cp -a "$HERE" "$DEST.new"
  rm -rf "$DEST"
  mv "$DEST.new" "$DEST"
fi
ICONS="$DEST/_internal/resources/icons"
for size in 16 24 32 48 64 128 256 512; do
  mkdir -p "$SHARE/icons/hicolor/${size}x${size}/apps"
  cp "$ICONS/lostpet-$size.png" "$SHARE/icons/hicolor/${size}x${size}/apps/lostpet.png"
done
mkdir -p "$SHARE/icons/hicolor/scalable/apps"
cp "$ICONS/lostpet.svg" "$SHARE/icons/hicolor/scalable/apps/lostpet.svg"
sed -e "s|^Exec=.*|Exec=\"$DEST/LostPet\"|" -e "s|^TryExec=.*|TryExec=$DEST/LostPet|" \
  "$DEST/lostpet.desktop" > "$SHARE/applications/lostpet.desktop"
ln -sf "$DEST/lostpet-cli" "$BIN/lostpet-cli"
command -v update-desktop-database >/dev/null && update-desktop-database -q "$SHARE/applications" || true
command -v gtk-update-icon-cache >/dev/null && gtk-update-icon-cache -q -t "$SHARE/icons/hicolor" || true
echo "LostPet installed in $DEST."
echo "Start it from the applications menu (LostPet Re-ID), or run $DEST/LostPet; the command line is lostpet-cli."
