#!/usr/bin/env bash
# Creates .venv-reference/ (gitignored) with the reference tools dmleval is compared against:
# faiss-cpu, numpy, a CPU-only torch and pytorch-metric-learning, hnswlib (scripts/ann-benchmark.py)
# and matplotlib (its plot), at pinned versions; and installs GNU time (Debian package `time`) when
# /usr/bin/time is missing.
#
#   bash scripts/setup-reference-env.sh
#
# Idempotent: an existing venv is kept, and pip runs only when a pinned package is missing or
# at another version. Prints the versions it ends with.
#
# torch: PyPI's default Linux wheel bundles the CUDA libraries (several GB). The CPU-only build
# of the same version (torch==X+cpu) is used when pip can find it without a download (this
# machine's pip config has find-links=/opt/wheels holding it); otherwise the plain PyPI wheel
# of the same version is installed, which works on CPU too but is large.
set -euo pipefail

REPO="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
VENV="${REFERENCE_VENV:-$REPO/.venv-reference}"
PYTHON="${PYTHON:-python3}"

TORCH_VERSION="2.13.0"
PINS=(
    "numpy==2.4.6"
    "faiss-cpu==1.15.1"
    "pytorch-metric-learning==2.9.0"
    "threadpoolctl==3.8.0"
    "hnswlib==0.8.0"
    "matplotlib==3.11.2"
)

# GNU time (Debian package `time`): compare-reference.py reads peak memory from it.
if [ ! -x /usr/bin/time ]; then
    echo "installing Debian package time (GNU time)"
    SUDO=""
    [ "$(id -u)" = 0 ] || SUDO=sudo
    $SUDO apt-get update -qq && DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq time
fi

if [ ! -x "$VENV/bin/python" ]; then
    echo "creating $VENV"
    "$PYTHON" -m venv "$VENV"
else
    echo "$VENV exists"
fi
PY="$VENV/bin/python"
PIP=("$PY" -m pip --disable-pip-version-check)

# Is NAME installed at exactly VERSION (local version labels like +cpu ignored)?
installed_at() {
    "$PY" - "$1" "$2" <<'EOF'
import sys
from importlib import metadata
name, version = sys.argv[1], sys.argv[2]
try:
    v = metadata.version(name)
except metadata.PackageNotFoundError:
    sys.exit(1)
sys.exit(0 if v.split("+")[0] == version else 1)
EOF
}

# torch first, so that pytorch-metric-learning finds its requirement met and pulls no other torch.
if installed_at torch "$TORCH_VERSION"; then
    echo "torch $TORCH_VERSION present"
else
    echo "installing torch $TORCH_VERSION (CPU-only build if available)"
    # The +cpu wheel comes from pip's find-links, its dependencies from PyPI.
    if ! "${PIP[@]}" install "torch==$TORCH_VERSION+cpu"; then
        echo "no CPU-only torch $TORCH_VERSION wheel reachable; installing PyPI's torch==$TORCH_VERSION (large, bundles CUDA libraries)"
        "${PIP[@]}" install "torch==$TORCH_VERSION"
    fi
fi

missing=()
for pin in "${PINS[@]}"; do
    if installed_at "${pin%%==*}" "${pin##*==}"; then
        echo "${pin%%==*} ${pin##*==} present"
    else
        missing+=("$pin")
    fi
done
if [ ${#missing[@]} -gt 0 ]; then
    echo "installing: ${missing[*]}"
    "${PIP[@]}" install "${missing[@]}" "torch==$("$PY" -c 'from importlib import metadata; print(metadata.version("torch"))')"
fi

echo
echo "reference environment: $VENV"
"$PY" - <<'EOF'
import platform
from importlib import metadata
print(f"  python {platform.python_version()}")
for name in ("numpy", "faiss-cpu", "torch", "pytorch-metric-learning", "scikit-learn", "scipy", "threadpoolctl",
             "hnswlib", "matplotlib"):
    try:
        print(f"  {name} {metadata.version(name)}")
    except metadata.PackageNotFoundError:
        print(f"  {name} MISSING")
import faiss, numpy, torch, pytorch_metric_learning, hnswlib, matplotlib  # noqa: F401  (they import)
print(f"  torch CUDA build: {torch.version.cuda or 'none (CPU-only)'}")
EOF
