#!/usr/bin/env bash
# Start the built bundle's desktop app under Xvfb, as a shelter PC would on first launch (a new,
# empty HOME; no network settings; nothing from this checkout), and check it:
#   * the time from starting the program to an interactive window (the app's own
#     LOSTPET_STARTUP_REPORT line, and the wall time measured here, bundle start-up included);
#   * a screenshot once the model has had WAIT seconds to load;
#   * which files the app wrote (only the user data and config folders are expected).
#
#   bash packaging/smoke_gui.sh [BUNDLE_DIR] [SCREENSHOT.png] [WAIT]
#   COLD=1 bash packaging/smoke_gui.sh ...   first drop the bundle's own files from the page cache
#                                             (posix_fadvise; nothing else is evicted), as after a reboot
# Needs: apt-get install -y xvfb libxcb-icccm4 libxcb-keysyms1 libxcb-cursor0 imagemagick
set -euo pipefail
REPO="$(cd "$(dirname "$0")/.." && pwd)"
BUNDLE="${1:-$REPO/dist/LostPet}"
SHOT="${2:-$REPO/dist/lostpet-screenshot.png}"
WAIT="${3:-45}"
command -v Xvfb >/dev/null || { echo "smoke_gui.sh: Xvfb is not installed (see the header)" >&2; exit 2; }

TEST_HOME="$(mktemp -d)"
LOG="$TEST_HOME.log"
DISPLAY_NUM=$(( 90 + RANDOM % 100 ))
Xvfb ":$DISPLAY_NUM" -screen 0 1366x768x24 -nolisten tcp >/dev/null 2>&1 &
XVFB=$!
APP=""
cleanup() {
  [ -n "$APP" ] && kill "$APP" 2>/dev/null && wait "$APP" 2>/dev/null || true
  kill "$XVFB" 2>/dev/null || true
}
trap cleanup EXIT
sleep 2

if [ "${COLD:-0}" = 1 ]; then
  python3 - "$BUNDLE" <<'EOF'
import os, sys
n = 0
for root, _, files in os.walk(sys.argv[1]):
    for name in files:
        try:
            fd = os.open(os.path.join(root, name), os.O_RDONLY)
        except OSError:
            continue
        os.posix_fadvise(fd, 0, 0, os.POSIX_FADV_DONTNEED)
        os.close(fd)
        n += 1
print(f"dropped {n} bundle files from the page cache")
EOF
fi

START=$(date +%s.%N)
env -i PATH=/usr/bin:/bin HOME="$TEST_HOME" LANG=C.UTF-8 DISPLAY=":$DISPLAY_NUM" \
  LOSTPET_STARTUP_REPORT=1 "$BUNDLE/LostPet" >"$LOG" 2>&1 &
APP=$!
for _ in $(seq 1 600); do
  grep -q "interactive after" "$LOG" && break
  kill -0 "$APP" 2>/dev/null || { echo "the app exited early:"; cat "$LOG"; exit 1; }
  sleep 0.2
done
WALL=$(echo "$(date +%s.%N) - $START" | bc)
grep "interactive after" "$LOG" || { echo "no interactive window within 120 s"; cat "$LOG"; exit 1; }
printf 'wall time from starting %s to an interactive window: %.1f s\n' "$BUNDLE/LostPet" "$WALL"

sleep "$WAIT"
kill -0 "$APP" 2>/dev/null || { echo "the app died:"; cat "$LOG"; exit 1; }
import -display ":$DISPLAY_NUM" -window root "$SHOT"
echo "screenshot: $SHOT"
kill "$APP"; wait "$APP" 2>/dev/null || true; APP=""
echo "app log:"
sed 's/^/  /' "$TEST_HOME/.config/LostPet/lostpet.log" 2>/dev/null | tail -8 || true
echo "files the app wrote under its HOME:"
(cd "$TEST_HOME" && find . -type f | sed 's/^/  /')
rm -rf "$TEST_HOME" "$LOG"
