#!/usr/bin/env bash
# A new R user's first session (make test-install): the R package's tarball
# ($2, from `make tarball`) installed into a temporary library; then, in a temporary HOME
# (so reticulate's virtualenv root and pip's cache start empty), with no pip
# configuration (pip sees PyPI alone, as on a fresh machine) and from a
# working directory that holds a `keras3r` folder, the R session of
# new-user.R. Its transcript goes to $1.
set -euo pipefail
transcript=$1
[ -f "${2:-}" ] || { echo "usage: run.sh TRANSCRIPT TARBALL"; exit 2; }
repo=$(cd "$(dirname "$0")/../.." && pwd)
tmp=$(mktemp -d /tmp/keras3r-test-install.XXXXXX)
trap 'rm -rf "$tmp"' EXIT
mkdir -p "$tmp/lib" "$tmp/home" "$tmp/work/keras3r" "$(dirname "$transcript")"
# What `git clone` leaves in the working directory: a folder named keras3r.
touch "$tmp/work/keras3r/__init__.py"
start=$(date +%s)

tarball=$(cd "$(dirname "$2")" && pwd)/$(basename "$2")
R CMD INSTALL -l "$tmp/lib" "$tarball" >"$tmp/install.log" 2>&1 \
  || { cat "$tmp/install.log"; exit 1; }
echo "test-install: $(basename "$tarball") installed into a temporary library ($(( $(date +%s) - start )) s)"

cp "$repo/tests/install/first-model.R" "$tmp/work/"
status=0
(cd "$tmp/work" && env -u RETICULATE_PYTHON -u RETICULATE_PYTHON_ENV -u WORKON_HOME \
  -u RETICULATE_VIRTUALENV_ROOT -u TF_CPP_MIN_LOG_LEVEL -u KERAS_BACKEND \
  -u PYTHONDONTWRITEBYTECODE -u XDG_CACHE_HOME -u R_USER_CACHE_DIR -u PIP_CACHE_DIR \
  -u PIP_FIND_LINKS -u PIP_EXTRA_INDEX_URL -u PIP_INDEX_URL -u PIP_CONSTRAINT \
  PIP_CONFIG_FILE=/dev/null HOME="$tmp/home" R_LIBS="$tmp/lib" R_LIBS_USER="$tmp/home/R/library" \
  R --no-save --no-restore --quiet -f "$repo/tests/install/new-user.R" \
  >"$transcript" 2>&1) || status=$?
took=$(( $(date +%s) - start ))
if [ "$status" -ne 0 ]; then
  tail -n 40 "$transcript"
  echo "test-install: FAILED after ${took} s (transcript: $transcript)"
  exit 1
fi
echo "test-install: tarball to trained model and back in ${took} s (transcript: $transcript)"
