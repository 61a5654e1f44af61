#!/usr/bin/env bash
# Create bench/.venv with the pinned Python peers (gensim, annoy, hnswlib, faiss-cpu, numpy,
# scipy) that
# bench/peers.py measures vecsh against.
#
#   bench/setup-peers.sh            # from anywhere; prints the venv's python path last
#
# Idempotent: if the venv exists and every pin in requirements-peers.txt is installed at
# exactly that version, nothing is downloaded or built.
#
# Why the two steps: gensim/numpy/scipy come as wheels (--only-binary, so a missing wheel
# fails loudly instead of compiling scipy for half an hour); annoy only exists as an sdist,
# so it is compiled here with g++, using pinned setuptools/wheel and no build isolation.
# annoy's setup.py compiles with -march=native: that is what `pip install annoy` gives any
# user, so it is the fair peer; --no-cache-dir keeps such a CPU-specific wheel out of pip's
# cache (it is rebuilt if the venv is ever recreated, ~1 min). hnswlib is an sdist too
# (pybind11, -march=native like annoy): it is built with pip's build isolation, which fetches
# pybind11 for the build only.
#
# It also installs hyperfine (Debian package) when it is missing and we are root, since
# the harness times whole-process loads with it (`peers.py load-txt --once`).
set -euo pipefail
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
venv=$here/.venv
py=$venv/bin/python
req=$here/requirements-peers.txt
breq=$here/build-requirements.txt

# Python 3.11 is what the wheels above were checked for.
base=${PYTHON:-python3}
"$base" -c 'import sys; assert sys.version_info[:2] == (3, 11), sys.version' \
  || { echo "setup-peers: need Python 3.11 (set PYTHON=...)" >&2; exit 1; }

# Prints the pins that are not installed at exactly their version (nothing if all are).
missing_pins() {
  "$py" - "$@" <<'PY'
import sys
from importlib.metadata import version, PackageNotFoundError
for path in sys.argv[1:]:
    for line in open(path):
        line = line.split("#", 1)[0].strip()
        if not line:
            continue
        name, want = line.split("==")
        try:
            have = version(name)
        except PackageNotFoundError:
            have = None
        if have != want:
            print(f"{name}=={want} (have {have})")
PY
}

if [[ ! -x $py ]]; then
  "$base" -m venv "$venv"
fi

todo=$(missing_pins "$req" "$breq")
if [[ -n $todo ]]; then
  echo "setup-peers: installing: $(echo $todo)" >&2
  "$py" -m pip install -q --disable-pip-version-check -r "$breq"
  # Everything but annoy, from wheels only.
  "$py" -m pip install -q --disable-pip-version-check --only-binary=:all: \
    -r <(grep -Ev '^(annoy|hnswlib)==' "$req")
  # annoy from source (no wheels exist), with the pinned build tools already in the venv.
  "$py" -m pip install -q --disable-pip-version-check --no-cache-dir --no-build-isolation \
    --no-deps "$(grep '^annoy==' "$req")"
  "$py" -m pip install -q --disable-pip-version-check --no-cache-dir --no-deps "$(grep '^hnswlib==' "$req")"
  todo=$(missing_pins "$req" "$breq")
  [[ -z $todo ]] || { echo "setup-peers: still wrong after install: $todo" >&2; exit 1; }
fi

# Smoke test: the compiled parts import (a numpy ABI mismatch would show here, not later).
"$py" -c 'import gensim, annoy, hnswlib, faiss, numpy, scipy; from gensim.models import KeyedVectors'

if ! command -v hyperfine >/dev/null 2>&1; then
  if [[ $(id -u) == 0 ]] && command -v apt-get >/dev/null 2>&1; then
    echo "setup-peers: installing hyperfine (apt-get)" >&2
    apt-get update -qq >/dev/null
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq hyperfine >/dev/null
  else
    echo "setup-peers: hyperfine not found (apt-get install hyperfine); peers.py works without it" >&2
  fi
fi

echo "$py"
