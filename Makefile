# keras3r: one repository, a Python package and an R package.
#
#   make demo      train a small model from R and from Python, render the docs
#   make test      every test: ruff, pytest, the GPU check's code on the CPU
#                  (bench/device_check.sh --cpu --quick), the wheel in a Python user's
#                  environment (.venv-user: NumPy 2, test-python-user), testthat,
#                  R CMD check, and a new R user's install from the tarball
#                  (test-install: needs PyPI), and the R package on R 4.5 in a
#                  Debian 13 folder (test-r-next: needs root, Debian's mirror, PyPI)
#
# Both set up what they need on a fresh Debian machine (apt, .venv, the R
# package; make test also .venv-user) and say nothing about set-up once it is done.

SHELL := /bin/bash
.SHELLFLAGS := -eu -o pipefail -c
.DEFAULT_GOAL := test

VENV := $(CURDIR)/.venv
PY := $(VENV)/bin/python
STAMPS := $(CURDIR)/.stamps
BUILD := $(CURDIR)/build

export RETICULATE_PYTHON := $(PY)
export TF_CPP_MIN_LOG_LEVEL := 3
export PYTHONDONTWRITEBYTECODE := 1

APT_PACKAGES := r-base-core r-base-dev r-cran-reticulate r-cran-testthat r-cran-roxygen2 \
	r-cran-knitr r-cran-rmarkdown r-cran-pkgdown pandoc chromium
R_SOURCES := DESCRIPTION NAMESPACE $(wildcard R/*.R) $(wildcard man/*.Rd)
PY_SOURCES := pyproject.toml $(shell find py -name '*.py' 2>/dev/null)

# The R package ships its Python module: inst/python/keras3r is a copy of
# py/keras3r (the one source), refreshed before every R build or install. The
# copy is committed, so that R CMD INSTALL of a plain clone and
# remotes::install_github() give a working package without make;
# tests/python/test_drift.py and tests/testthat/test-loading.R fail when it
# differs from py/keras3r (`make inst-python` brings it back in line).
PY_MODULE := $(sort $(shell find py/keras3r -name '*.py' -not -path '*/__pycache__/*' 2>/dev/null))
INST_PY_MODULE := $(PY_MODULE:py/%=inst/python/%)
# Files py/keras3r no longer has, and byte code, leave the copy.
PRUNE_INST_PY = find inst/python -name __pycache__ -prune -exec rm -rf {} +; \
	find inst/python -type f | LC_ALL=C sort \
	  | LC_ALL=C comm -23 - <(printf '%s\n' $(INST_PY_MODULE)) | xargs -r rm -f; \
	find inst/python -type d -empty -delete

.PHONY: setup demo test test-python test-r test-r-source test-install check lint generate tether \
	docs bench clean inst-python tarball test-r-next test-keras-suite test-keras-suite-stock \
	test-python-user test-device-check device-wheels

setup: $(STAMPS)/apt $(STAMPS)/npm $(STAMPS)/venv $(STAMPS)/rpkg

$(STAMPS)/apt:
	@mkdir -p $(STAMPS)
	@if ! dpkg -s $(APT_PACKAGES) >/dev/null 2>&1; then \
	  echo "setup: installing Debian packages (R, reticulate, testthat, roxygen2, knitr, rmarkdown, pkgdown, chromium)"; \
	  apt-get update -qq >/dev/null; \
	  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends \
	    $(APT_PACKAGES) >/dev/null; \
	fi
	@touch $@

# npm fetches the reference site's search scripts (tools/build_site.py).
# Debian's nodejs and npm where no npm is on the PATH: a NodeSource nodejs
# carries its own npm and conflicts with Debian's package of it.
$(STAMPS)/npm: $(STAMPS)/apt
	@if ! command -v npm >/dev/null; then \
	  echo "setup: installing Debian packages (nodejs, npm)"; \
	  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends \
	    nodejs npm >/dev/null; \
	fi
	@touch $@

# One environment for Python, R (through reticulate) and every Keras backend.
$(STAMPS)/venv: pyproject.toml requirements-dev.txt
	@mkdir -p $(STAMPS)
	@echo "setup: building .venv (TensorFlow, JAX, PyTorch, test tools)"
	@test -x $(PY) || python3 -m venv $(VENV)
	@$(PY) -m pip install -q --disable-pip-version-check -r requirements-dev.txt 2>&1 \
	  | grep -v "^WARNING: Location" || true
	@$(PY) -m pip install -q --disable-pip-version-check --no-deps -e . 2>&1 \
	  | grep -v "^WARNING: Location" || true
	@$(PY) -c "import keras3r, keras, tensorflow, jax, torch, rpy2, pytest" 2>/dev/null \
	  || { echo "setup: .venv is incomplete"; exit 1; }
	@touch $@

inst/python/%.py: py/%.py
	@mkdir -p $(@D)
	@cp $< $@

inst-python: $(INST_PY_MODULE)
	@$(PRUNE_INST_PY)

$(STAMPS)/rpkg: $(STAMPS)/apt $(R_SOURCES) $(INST_PY_MODULE)
	@$(PRUNE_INST_PY)
	@echo "setup: installing the R package keras3r into R's site library"
	@R CMD INSTALL --no-test-load . >$(STAMPS)/rpkg.log 2>&1 \
	  || { cat $(STAMPS)/rpkg.log; exit 1; }
	@touch $@

# Rewrite the Python functions and R wrappers from py/keras3r/spec, then let
# roxygen2 write man/ and NAMESPACE.
generate: $(STAMPS)/apt $(STAMPS)/venv
	@$(PY) tools/generate.py
	@Rscript -e 'suppressMessages(roxygen2::roxygenise())' >/dev/null

# Snapshot the Keras signature and docstring of every spec entry in .tether/
# (after reviewing the spec against the installed Keras; test_tether.py checks).
tether: $(STAMPS)/venv
	@$(PY) tools/tether.py --update

demo: setup
	@$(PY) examples/train.py
	@Rscript demo/train.R
	@$(PY) tools/render_docs.py --out $(BUILD)/docs optimizer_adam_w
	@echo "demo: help page written to build/docs (optimizer_adam_w.html, optimizer_adam_w.txt)"
	@$(MAKE) --no-print-directory docs

# The reference site in R and in Python (tools/build_site.py, about 2 min):
# pkgdown's pages with their R examples run, each page's Python view with its
# doctests run, both articles, NEWS.md, and the search. Read offline: nothing
# is loaded from the network (the search scripts come from npm at build time,
# cached in build/npm).
docs: setup
	@mkdir -p $(BUILD)
	@$(PY) tools/build_site.py --out $(BUILD)/site >$(BUILD)/site.log 2>&1 \
	  || { cat $(BUILD)/site.log; exit 1; }
	@echo "docs: reference site in build/site/index.html (log: build/site.log)"

# --no-cache: ruff would otherwise leave a .ruff_cache folder in the checkout.
lint: $(STAMPS)/venv
	@$(PY) -m ruff check --no-cache py tools tests/python tests/keras_suite bench examples
	@echo "ruff: clean"

# One pytest process per Keras backend, and one for R embedded through rpy2:
# tests/python/process_plan.py says which tests each runs (plain `pytest` is
# the TensorFlow one) and reports the rest as skipped with the command that
# runs them. Measurements go to a temporary directory (KERAS3R_FIGURES=dir
# keeps them; tests/python/conftest.py).
PYTEST_BACKENDS := tensorflow jax torch
test-python: setup
	@for backend in $(PYTEST_BACKENDS); do \
	  KERAS_BACKEND=$$backend $(PY) -m pytest -q -p no:cacheprovider tests/python || exit 1; done
	@$(PY) -m pytest -q -p no:cacheprovider tests/python/with_r

# Keras's own optimizer, trainer, saving and model tests (shipped in the keras
# wheel) with keras3r's behaviour on every optimizer Keras builds, one pytest
# process per backend; tests that fail on stock Keras here are listed, with
# their reason, in tests/keras_suite/stock_failures.txt.
# test-keras-suite-stock runs them on stock Keras, which verifies that list.
KERAS_SUITE_BACKENDS := tensorflow jax torch
test-keras-suite: setup
	@for backend in $(KERAS_SUITE_BACKENDS); do \
	  $(PY) tests/keras_suite/run.py $$backend || exit 1; done

test-keras-suite-stock: setup
	@for backend in $(KERAS_SUITE_BACKENDS); do \
	  $(PY) tests/keras_suite/run.py $$backend --stock || exit 1; done

# A second environment, as a Python user has it: .venv-user holds the newest
# NumPy 2, Keras, TensorFlow (CPU) and jax that the package index serves
# (unpinned on purpose: a new release shows up here first; `rm .stamps/venv-user`
# upgrades them), torch's CPU build (as in requirements-dev.txt: PyPI's Linux
# torch brings CUDA) for the tests that compare backends, and keras3r itself
# from a wheel built from this checkout, never py/ (test_packaging.py's last
# test proves it where KERAS3R_INSTALLED_WHEEL=1).
VENV_USER := $(CURDIR)/.venv-user
PY_USER := $(VENV_USER)/bin/python
USER_PACKAGES := "numpy>=2" keras tensorflow-cpu "jax[cpu]" torch==2.13.0 pytest hypothesis
# The Python tests that need no R (no rpy2, no Rscript, no chromium, no
# tools/ that put py/ on the path): building and checking arguments, the
# private-API probes, the float64 reference maths on every backend, the
# compiled updates on TensorFlow and JAX (buffer donation included), every
# kind of gradient (NumPy arrays of several dtypes among them, where NumPy 2
# promotes differently), saving and loading, and the warning filters (which
# hide NumPy 2's deprecation of Keras's __array__). Left out for time: the
# property tests (thousands of hypothesis calls), two-device training, long
# sessions' memory, shared compiled updates, torch's fused kernels and the
# R-facing summaries; test_drift, test_docs and test_tether are about this
# checkout's sources and Rd pages, not about the environment.
USER_TESTS := test_build.py test_signatures.py test_compat.py test_reference_updates.py \
	test_compiled_apply.py test_gradient_types.py test_state.py \
	test_multi.py test_newest_optimizers.py test_schedule_free_weights.py test_warnings.py \
	test_packaging.py::test_keras3r_is_imported_from_where_this_environment_installed_it
# On JAX and torch, a pytest process each (Keras picks its backend once per process).
USER_TESTS_JAX := with_jax/test_compiled_apply.py with_jax/test_donation.py \
	with_jax/test_gradient_types.py test_reference_updates.py test_schedule_free_weights.py
USER_TESTS_TORCH := with_torch/test_instance.py test_reference_updates.py \
	test_schedule_free_weights.py
# Keras's own suite on JAX alone here: .venv-user's jax is the newest, far
# past the .venv's 0.7.1 (which numpy<2 holds back), while its TensorFlow and
# Keras are the .venv's releases, whose suite test-keras-suite runs (it passed
# here with NumPy 2 too, in 3.5 more minutes: not worth it in every run).
USER_SUITE_BACKENDS := jax

$(STAMPS)/venv-user: pyproject.toml
	@mkdir -p $(STAMPS)
	@echo "setup: building .venv-user (NumPy 2, the newest Keras, TensorFlow and JAX)"
	@test -x $(PY_USER) || python3 -m venv $(VENV_USER)
	@$(PY_USER) -m pip install -q --disable-pip-version-check --upgrade $(USER_PACKAGES) 2>&1 \
	  | grep -v "^WARNING: Location" || true
	@$(PY_USER) -c "import numpy, keras, tensorflow, jax, torch, pytest, hypothesis" 2>/dev/null \
	  || { echo "setup: .venv-user is incomplete"; exit 1; }
	@touch $@

test-python-user: $(STAMPS)/venv $(STAMPS)/venv-user
	@rm -rf $(BUILD)/wheel && mkdir -p $(BUILD)/wheel
	@$(PY) -m build --no-isolation --outdir $(BUILD)/wheel . >$(BUILD)/wheel/build.log 2>&1 \
	  || { cat $(BUILD)/wheel/build.log; exit 1; }
	@$(PY_USER) -m pip uninstall -q -y keras3r 2>/dev/null || true
	@$(PY_USER) -m pip install -q --disable-pip-version-check $(BUILD)/wheel/keras3r-*.whl 2>&1 \
	  | grep -v "^WARNING: Location" || true
	@$(PY_USER) -m pip check >/dev/null || { $(PY_USER) -m pip check; exit 1; }
	@$(PY_USER) -c "import keras3r, numpy, keras, tensorflow, jax, torch; \
	  print('.venv-user: keras3r', keras3r.__version__, 'from', keras3r.__file__); \
	  print('  NumPy', numpy.__version__, '| Keras', keras.__version__, \
	  '| TensorFlow', tensorflow.__version__, '| jax', jax.__version__, '| torch', torch.__version__)"
	@KERAS3R_INSTALLED_WHEEL=1 $(PY_USER) -m pytest -q -p no:cacheprovider \
	  $(addprefix tests/python/,$(USER_TESTS))
	@KERAS_BACKEND=jax KERAS3R_INSTALLED_WHEEL=1 $(PY_USER) -m pytest -q -p no:cacheprovider \
	  $(addprefix tests/python/,$(USER_TESTS_JAX))
	@KERAS_BACKEND=torch KERAS3R_INSTALLED_WHEEL=1 $(PY_USER) -m pytest -q -p no:cacheprovider \
	  $(addprefix tests/python/,$(USER_TESTS_TORCH))
	@for backend in $(USER_SUITE_BACKENDS); do \
	  $(PY_USER) tests/keras_suite/run.py $$backend || exit 1; done

R_TEST_REPORTER := testthat::ProgressReporter$$new(show_praise = FALSE, update_interval = 30)
test-r: setup
	@KERAS3R_TEST_EVERY_BACKEND=true Rscript -e 'testthat::test_local(".", reporter = $(R_TEST_REPORTER), stop_on_failure = TRUE)'

# `make test` runs every testthat file once, in `check`, on the package
# installed from the tarball (as R users have it). Here, on the source tree
# (pkgload), only the files whose checks read something else there: the
# Python module imported from py/ and compared with inst/python (loading), the
# help from man/ (help). The other files run the same code either way.
R_SOURCE_TREE_TESTS := ^(loading|help)$$
test-r-source: setup
	@KERAS3R_TEST_EVERY_BACKEND=true Rscript -e 'testthat::test_local(".", filter = "$(R_SOURCE_TREE_TESTS)", reporter = $(R_TEST_REPORTER), stop_on_failure = TRUE)'

# R CMD check on the built tarball (`make tarball`), as CRAN would (no PDF
# manual: no LaTeX here), with every testthat file (NOT_CRAN: those CRAN would
# skip too). The build knits the vignette with the .venv's Python
# (RETICULATE_PYTHON above) and the check runs its code again; the check's
# third pass, re-knitting what the build has just knitted from the same
# files, is left out (--no-build-vignettes). KERAS3R_SOURCE lets the
# installed package's tests compare its Python module with py/keras3r.
check: tarball
	@rm -rf $(BUILD)/check && mkdir -p $(BUILD)/check
	@cd $(BUILD)/check && status=0; _R_CHECK_FORCE_SUGGESTS_=false KERAS3R_TEST_EVERY_BACKEND=true \
	  NOT_CRAN=true KERAS3R_SOURCE=$(CURDIR) \
	  R CMD check --no-manual --no-build-vignettes $(BUILD)/keras3r_*.tar.gz >check.log 2>&1 \
	  || status=$$?; \
	  tail -n 8 check.log; \
	  if [ $$status -ne 0 ] || grep -qE "^Status: .*(ERROR|WARNING)" check.log; then \
	    tail -n 60 keras3r.Rcheck/tests/testthat.Rout.fail 2>/dev/null || true; \
	    cat keras3r.Rcheck/00check.log; exit 1; fi

# The R package's source tarball, its Python module included:
# build/keras3r_<version>.tar.gz. R CMD build copies the whole folder before
# it applies .Rbuildignore, so it builds from a copy without the .venv.
tarball: setup inst-python
	@rm -rf $(BUILD)/tarball $(BUILD)/keras3r_*.tar.gz && mkdir -p $(BUILD)/tarball/src
	@tar -C $(CURDIR) --exclude=./.venv --exclude=./.venv-user --exclude=./.git --exclude=./build \
	  --exclude=./.stamps --exclude=__pycache__ -cf - . | tar -C $(BUILD)/tarball/src -xf -
	@cd $(BUILD)/tarball && R CMD build src >build.log 2>&1 || { cat build.log; exit 1; }
	@mv $(BUILD)/tarball/keras3r_*.tar.gz $(BUILD)/ && rm -rf $(BUILD)/tarball/src
	@echo "tarball: $$(ls $(BUILD)/keras3r_*.tar.gz)"

# A new R user's first session, from the built tarball to a trained model:
# the tarball installed into a temporary library; in a temporary HOME (a fresh
# virtualenv root) and from a working directory holding a `keras3r` folder,
# install_keras3r() with no arguments from PyPI, a model trained with
# optimizer_adam_w(), uninstall_keras3r(). Needs PyPI; downloads about 600 MB
# and takes a few minutes. The session is written to build/install-session.txt.
test-install: tarball
	@tests/install/run.sh $(BUILD)/install-session.txt $$(ls $(BUILD)/keras3r_*.tar.gz)

# The R package with the R stack of today (tests/r-next/run.sh): Debian 13 in a
# folder kept in /var/cache/keras3r/trixie (debootstrap; about 1.5 min when it
# is made), R 4.5, reticulate 1.41, NumPy 2. There: installed from a copy of the
# checkout as GitHub installs go, testthat, a new user's first sessions
# (py_require() and RETICULATE_PYTHON), R CMD build + check. Needs root, Debian's
# mirror and PyPI; transcripts in build/r-next/.
test-r-next:
	@tests/r-next/run.sh $(BUILD)/r-next

# The device check (bench/device_check.sh): on a GPU machine it runs keras3r's
# JAX and torch tests and times the update against its peers; here the same
# code runs on the CPU at small sizes, so that the command cannot rot
# (figures and logs in build/device-check).
test-device-check: setup
	@OUT=$(BUILD)/device-check bench/device_check.sh --cpu --quick >$(BUILD)/device-check.log 2>&1 \
	  || { cat $(BUILD)/device-check.log; exit 1; }
	@grep "^device check" $(BUILD)/device-check.log

# What a bare GPU machine (Python 3.12, JAX, torch, NumPy 2; no Keras) lacks,
# as wheels in build/device-wheels for bench/device_check.sh to install there
# (3 MB; needs PyPI), checked against what that machine's image holds.
DEVICE_WHEELS := $(BUILD)/device-wheels
DEVICE_PACKAGES := keras==$(shell sed -n 's/^keras==//p' requirements-dev.txt) namex==0.1.0 optree==0.20.0
device-wheels: $(STAMPS)/venv
	@rm -rf $(DEVICE_WHEELS) && mkdir -p $(DEVICE_WHEELS)
	@$(PY) -m pip download -q --disable-pip-version-check --no-deps --only-binary=:all: \
	  --python-version 3.12 --implementation cp --platform manylinux_2_28_x86_64 \
	  --platform manylinux_2_27_x86_64 --platform manylinux_2_17_x86_64 \
	  --platform manylinux2014_x86_64 -d $(DEVICE_WHEELS) $(DEVICE_PACKAGES) 2>&1 \
	  | grep -v "^WARNING: Location" || true
	@$(PY) bench/device_check.py wheels $(DEVICE_WHEELS)

test: setup lint test-python test-device-check test-keras-suite test-python-user test-r-source \
	check test-install test-r-next

bench: setup
	@$(PY) bench/bench_adamw.py
	@$(PY) bench/bench_adamw_jax.py
	@Rscript bench/bench_apply.R
	@Rscript bench/bench_constructor.R
	@Rscript bench/bench_r_optimizer.R
	@$(PY) bench/bench_sweep.py
	@$(PY) bench/bench_nesting.py
	@$(PY) bench/bench_matrix.py
	@$(PY) bench/bench_grouped.py
	@for backend in tensorflow jax; do KERAS_BACKEND=$$backend $(PY) bench/bench_half_precision.py; done

clean:
	rm -rf $(BUILD) $(STAMPS)
