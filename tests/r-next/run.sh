#!/usr/bin/env bash
# keras3r as today's R users have it (make test-r-next): Debian 13 in a folder
# (debootstrap), with its R 4.5, reticulate >= 1.41, testthat, remotes and
# Python 3.13, and a virtualenv from PyPI with NumPy 2 and the newest Keras and
# TensorFlow. There, keras3r is installed from a copy of this checkout the ways
# R users install a GitHub package, checked, tested, and used in a new user's
# first sessions. Transcripts go to $1 (a folder).
#
# The root stays outside the checkout (KERAS3R_NEXT_ROOT, by default
# /var/cache/keras3r/trixie) so that later runs, and CI's fresh clone on the same
# machine, reuse it; it is rebuilt when its package list changes. Each R
# session starts from a fresh HOME, so reticulate's uv cache and environments
# are made anew (uv downloads TensorFlow each run). KERAS3R_NEXT_STEPS (words among install,
# testthat, first-session, check; all by default) runs a part, for developers.
# The testthat suite runs once: inside R CMD check, on the package installed
# from the tarball, where check is a step; in a session of its own otherwise.
set -euo pipefail
out=$(mkdir -p "$1" && cd "$1" && pwd)
repo=$(cd "$(dirname "$0")/../.." && pwd)
root=${KERAS3R_NEXT_ROOT:-/var/cache/keras3r/trixie}
mirror=$(sed -n 's/^URIs: *//p' /etc/apt/sources.list.d/debian.sources 2>/dev/null | head -n 1)
mirror=${mirror:-http://deb.debian.org/debian}
packages="r-base-core r-base-dev r-cran-reticulate r-cran-testthat r-cran-remotes r-cran-pkgload \
r-cran-knitr r-cran-rmarkdown pandoc python3 python3-venv libpython3.13 git ca-certificates"
venv_packages='"numpy>=2" keras tensorflow-cpu "jax[cpu]"'
stamp="$root/.keras3r-stamp"
want="$packages | $venv_packages | uv<0.8, uv | 2"
t0=$(date +%s)
steps=${KERAS3R_NEXT_STEPS:-install testthat first-session check}
wanted() { [[ " $steps " == *" $1 "* ]]; }
step() { echo "test-r-next: $1 ($(( $(date +%s) - t0 )) s)"; t0=$(date +%s); }

mounted=()
cleanup() {
  for (( i=${#mounted[@]}-1; i>=0; i-- )); do umount -l "${mounted[$i]}" 2>/dev/null || true; done
}
trap cleanup EXIT
mount_in() {  # mount_in SOURCE TARGET [options]: bind or type mount, undone at exit
  mkdir -p "$root$2"
  if ! mountpoint -q "$root$2"; then mount "${@:3}" "$1" "$root$2"; mounted+=("$root$2"); fi
}
in_root() { chroot "$root" /usr/bin/env -i HOME=/root PATH=/usr/local/bin:/usr/bin:/bin TF_CPP_MIN_LOG_LEVEL=3 \
  LANG=C.UTF-8 SSL_CERT_FILE=/etc/ssl/certs/ca-certificates.crt "$@"; }

if [ ! -f "$stamp" ] || [ "$(cat "$stamp")" != "$want" ]; then
  command -v debootstrap >/dev/null || { apt-get update -qq >/dev/null;
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends debootstrap >/dev/null; }
  # Nothing of the host may be reachable through the root being removed: undo
  # mounts left by an interrupted run, and never cross into another file system.
  awk -v r="$root" '$2 == r || index($2, r "/") == 1 { print $2 }' /proc/mounts | sort -r \
    | while read -r m; do umount -l "$m"; done
  rm -rf --one-file-system "$root"
  mkdir -p "$(dirname "$root")"
  debootstrap --variant=minbase --include=ca-certificates trixie "$root" "$mirror" \
    >"$out/debootstrap.log" 2>&1 || { tail -n 40 "$out/debootstrap.log"; exit 1; }
  step "Debian 13 made in $root"
fi
# This machine's CA bundle (its TLS may pass through a proxy whose CA only it
# knows), at the path pip and uv read; and its resolver.
cp /etc/ssl/certs/ca-certificates.crt "$root/etc/ssl/certs/ca-certificates.crt"
cp /etc/resolv.conf "$root/etc/resolv.conf"
mount_in proc /proc -t proc
mount_in /dev /dev --bind
mount_in tmpfs /tmp -t tmpfs

if [ ! -f "$stamp" ] || [ "$(cat "$stamp")" != "$want" ]; then
  in_root sh -c "apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq \
    --no-install-recommends $packages" >"$out/apt.log" 2>&1 || { tail -n 40 "$out/apt.log"; exit 1; }
  step "R, reticulate, testthat, remotes, Python 3.13 installed"
  in_root sh -c "python3 -m venv /opt/keras && /opt/keras/bin/pip install -q $venv_packages \
    && python3 -m venv /opt/uv && /opt/uv/bin/pip install -q 'uv<0.8' \
    && python3 -m venv /opt/uv-new && /opt/uv-new/bin/pip install -q uv" >"$out/venv.log" 2>&1 \
    || { tail -n 40 "$out/venv.log"; exit 1; }
  step "virtualenv /opt/keras (NumPy 2, Keras, TensorFlow, JAX), uv < 0.8 and the newest uv installed"
  echo "$want" >"$stamp"
fi
in_root sh -c 'R --version | head -n 1; Rscript -e "cat(\"reticulate\", format(packageVersion(\"reticulate\")), \"testthat\", format(packageVersion(\"testthat\")), \"remotes\", format(packageVersion(\"remotes\")), \"\\n\")"; /opt/keras/bin/python -c "import sys, numpy, keras, tensorflow; print(\"Python\", sys.version.split()[0], \"NumPy\", numpy.__version__, \"Keras\", keras.__version__, \"TensorFlow\", tensorflow.__version__)" 2>/dev/null' \
  | tee "$out/versions.txt" | sed 's/^/test-r-next:   /'

# The checkout as a clone has it: the files git tracks or would track (not the
# ignored build outputs), committed into a repository of their own so that
# remotes::install_git() can clone it as it clones GitHub.
work=/tmp/keras3r-next
rm -rf "$root$work" && mkdir -p "$root$work/clone"
(cd "$repo" && git ls-files -co --exclude-standard -z | tar --null -T - -cf -) | tar -C "$root$work/clone" -xf -
in_root sh -c "cd $work/clone && git init -q && git add -A && git -c user.name=t -c user.email=t@t commit -qm clone" \
  >/dev/null
cp "$repo"/tests/r-next/*.R "$repo"/tests/install/first-model.R "$root$work/"
step "the checkout copied as a clone"

r_session() {  # r_session NAME SCRIPT [VAR=value ...]: a transcript in $out/NAME.txt
  local name=$1 script=$2; shift 2
  local status=0
  in_root sh -c "mkdir -p $work/home-$name && cd $work && env HOME=$work/home-$name $* \
    R --no-save --no-restore --quiet -f $work/$script" >"$out/$name.txt" 2>&1 || status=$?
  if [ "$status" -ne 0 ]; then tail -n 40 "$out/$name.txt"; echo "test-r-next: $name FAILED"; exit 1; fi
}
lib="R_LIBS=$work/lib"
in_root mkdir -p "$work/lib"
in_root sh -c "R CMD INSTALL -l $work/lib $work/clone" >"$out/r-cmd-install.txt" 2>&1 \
  || { tail -n 40 "$out/r-cmd-install.txt"; exit 1; }
step "R CMD INSTALL <clone>"
if wanted install; then
  r_session install-remotes install-remotes.R "$lib"
  step "remotes::install_local(<clone>, build = TRUE) and remotes::install_git(<clone>)"
fi
if wanted testthat && ! wanted check; then
  r_session testthat testthat.R "$lib" RETICULATE_PYTHON=/opt/keras/bin/python NOT_CRAN=true
  step "testthat suite (RETICULATE_PYTHON = the NumPy 2 virtualenv)"
fi
wanted first-session && {
# reticulate 1.41 works with uv before 0.8 (later ones delete the environment
# they hand over; the next session shows keras3r saying so).
uv_env="UV_PYTHON_DOWNLOADS=never"
r_session first-session-py-require first-session.R "$lib" PATH=/opt/uv/bin:/usr/bin:/bin $uv_env
step "a new user's first session: reticulate's environment from py_require() (uv < 0.8)"
r_session uv-too-new uv-too-new.R "$lib" PATH=/opt/uv-new/bin:/usr/bin:/bin $uv_env
step "the same with the newest uv: keras3r names the cause"
r_session first-session-reticulate-python first-session.R "$lib" RETICULATE_PYTHON=/opt/keras/bin/python
step "a new user's first session with RETICULATE_PYTHON"
}
wanted check || { echo "test-r-next: passed: $steps (transcripts in $out)"; exit 0; }
# The check runs the testthat suite (as testthat.R does: NOT_CRAN, and the
# clone to compare the shipped Python module with) unless testthat is left
# out, and the vignette's code; R CMD build has just knitted the vignette from
# the same files, so the check does not knit it a second time.
status=0
check_tests=$(wanted testthat || echo --no-tests)
in_root sh -c "cd $work && R CMD build clone && RETICULATE_PYTHON=/opt/keras/bin/python \
  NOT_CRAN=true KERAS3R_SOURCE=$work/clone _R_CHECK_FORCE_SUGGESTS_=false \
  R CMD check --no-manual --no-build-vignettes $check_tests keras3r_*.tar.gz" >"$out/check.txt" 2>&1 \
  || status=$?
tests_out="$root$work/keras3r.Rcheck/tests"
cat "$tests_out/testthat.Rout" "$tests_out/testthat.Rout.fail" >"$out/testthat.txt" 2>/dev/null || true
tail -n 3 "$out/check.txt" | sed 's/^/test-r-next:   /'
if [ "$status" -ne 0 ] || grep -qE "^Status: .*(ERROR|WARNING)" "$out/check.txt"; then
  tail -n 40 "$tests_out/testthat.Rout.fail" 2>/dev/null || true
  cat "$root$work/keras3r.Rcheck/00check.log" 2>/dev/null | tail -n 60; echo "test-r-next: R CMD check FAILED"; exit 1
fi
step "R CMD build <clone> and R CMD check of the tarball (testthat suite included)"
echo "test-r-next: passed (transcripts in $out)"
