#!/usr/bin/env bash
# The device check, in one command: keras3r's tests that hold on JAX and
# torch, the eager AdamW update against its peers at three shapes, and fit()
# steps per second, keras3r / stock (bench/device_check.py says what each
# figure is).
#
#   bench/device_check.sh                  on a GPU machine: everything, under 8 minutes
#   bench/device_check.sh --cpu --quick    the same code on the CPU at small sizes,
#                                          a few of the tests (make test-device-check)
#
# Writes device_check.json and device_check.md under $OUT (build/device-check
# when OUT is unset) and prints the table. Where the Python (PYTHON, else the
# .venv's, else python3) has no Keras, as on a bare GPU machine, the wheels
# that `make device-wheels` downloaded into build/device-wheels are installed
# into a temporary folder first; keras3r itself is this checkout's py/.
# Exits non-zero when a test or a measurement fails; a goal not met is
# reported in the table, not as a failure.
set -euo pipefail
cd "$(dirname "$0")/.."

cpu=0 quick=0
for arg in "$@"; do
  case $arg in
    --cpu) cpu=1 ;;
    --quick) quick=1 ;;
    *) echo "usage: $0 [--cpu] [--quick]" >&2; exit 2 ;;
  esac
done
out=${OUT:-$PWD/build/device-check}
mkdir -p "$out"
rm -f "$out"/jax.json "$out"/torch.json "$out"/tests.json "$out"/device_check.{json,md}

py=${PYTHON:-}
if [ -z "$py" ]; then
  if [ -x .venv/bin/python ]; then py=$PWD/.venv/bin/python; else py=python3; fi
fi
if ! "$py" -c "import keras" 2>/dev/null; then
  wheels=build/device-wheels
  if ! ls "$wheels"/*.whl >/dev/null 2>&1; then
    echo "device check: $py has no Keras and $wheels no wheels (make device-wheels)" >&2
    exit 1
  fi
  "$py" bench/device_check.py wheels "$wheels"
  site=$(mktemp -d)
  trap 'rm -rf "$site"' EXIT
  "$py" -m pip install -q --no-index --no-deps --no-compile --no-cache-dir \
    --target "$site" "$wheels"/*.whl
  export PYTHONPATH="$site${PYTHONPATH:+:$PYTHONPATH}"
fi
export PYTHONPATH="$PWD/py${PYTHONPATH:+:$PYTHONPATH}"
# JAX would otherwise take 75% of the GPU's memory at start.
export PYTHONDONTWRITEBYTECODE=1 XLA_PYTHON_CLIENT_PREALLOCATE=false TF_CPP_MIN_LOG_LEVEL=3
if [ "$cpu" = 1 ]; then export JAX_PLATFORMS=cpu CUDA_VISIBLE_DEVICES=""; fi
quick_flag="" gpu_flag=""
if [ "$quick" = 1 ]; then quick_flag=--quick; fi
if [ "$cpu" = 0 ]; then gpu_flag=--gpu; fi

# keras3r's tests on JAX and on torch: each process runs its backend's folder
# and the modules that hold for every backend (tests/python/process_plan.py).
# Quick: one test each, a model's weights under buffer donation and torch's
# fused update taken off by plain() (make test runs the rest in test-python).
declare -A selection=(
  [jax]="tests/python"
  [torch]="tests/python"
)
if [ "$quick" = 1 ]; then
  selection[jax]="tests/python/with_jax/test_donation.py::test_a_model_s_weights_survive_compiled_updates"
  selection[torch]="tests/python/with_torch/test_fused_torch.py::test_plain_takes_the_fused_update_away"
fi
status=0
tests_json="{" sep=""
for backend in jax torch; do
  log="$out/tests-$backend.log"
  # shellcheck disable=SC2086
  if KERAS_BACKEND=$backend timeout 300 "$py" -m pytest -q -p no:cacheprovider \
      ${selection[$backend]} >"$log" 2>&1; then result=passed; else result=FAILED; status=1; fi
  summary=$(tail -n 1 "$log" | tr -d '"=' | sed 's/^ *//; s/ *$//')
  echo "device check: tests on $backend $result ($summary)"
  [ "$result" = passed ] || tail -n 40 "$log"
  tests_json+="$sep\"$backend\": \"$result: $summary\""
  sep=", "
done
echo "$tests_json}" >"$out/tests.json"

for backend in jax torch; do
  # shellcheck disable=SC2086
  KERAS_BACKEND=$backend timeout 300 "$py" bench/device_check.py measure "$backend" "$out" \
    $quick_flag || { echo "device check: measuring $backend failed" >&2; status=1; }
done
# shellcheck disable=SC2086
"$py" bench/device_check.py report "$out" $gpu_flag || status=1
exit $status
