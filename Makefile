# keras3r: one repository, a Python package and an R package.
#
#   make demo      train a small model from R and from Python, render the docs
#   make test      every test: ruff, pytest, testthat, R CMD check
#
# Both set up what they need on a fresh Debian machine (apt, .venv, the R
# package) and say nothing about set-up once it is done.

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
	chromium
R_SOURCES := DESCRIPTION NAMESPACE $(wildcard R/*.R) $(wildcard man/*.Rd)
PY_SOURCES := pyproject.toml $(shell find py -name '*.py' 2>/dev/null)

.PHONY: setup demo test test-python test-r check lint generate docs bench clean

setup: $(STAMPS)/apt $(STAMPS)/venv $(STAMPS)/rpkg

$(STAMPS)/apt:
	@mkdir -p $(STAMPS)
	@if ! dpkg -s $(APT_PACKAGES) >/dev/null 2>&1; then \
	  echo "setup: installing Debian packages (R, reticulate, testthat, roxygen2, chromium)"; \
	  apt-get update -qq >/dev/null; \
	  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends \
	    $(APT_PACKAGES) >/dev/null; \
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

$(STAMPS)/rpkg: $(STAMPS)/apt $(R_SOURCES)
	@echo "setup: installing the R package keras3r into R's site library"
	@R CMD INSTALL --no-test-load . >$(STAMPS)/rpkg.log 2>&1 \
	  || { cat $(STAMPS)/rpkg.log; exit 1; }
	@touch $@

# Rewrite the Python functions and R wrappers from py/keras3r/spec, then let
# roxygen2 write man/ and NAMESPACE.
generate: $(STAMPS)/apt $(STAMPS)/venv
	@$(PY) tools/generate.py
	@Rscript -e 'suppressMessages(roxygen2::roxygenise())' >/dev/null

demo: setup
	@$(PY) demo/train.py
	@Rscript demo/train.R
	@$(PY) tools/render_docs.py --out $(BUILD)/docs optimizer_adam_w
	@echo "demo: help pages written to build/docs (optimizer_adam_w.html, optimizer_adam_w.txt)"

docs: setup
	@$(PY) tools/render_docs.py --out $(BUILD)/site --all
	@echo "docs: reference site in build/site/index.html"

lint: $(STAMPS)/venv
	@$(PY) -m ruff check py tools tests/python bench demo
	@echo "ruff: clean"

# Two pytest processes: R embedded through rpy2 must not share one with the
# rest of the suite (tests/python/with_r/conftest.py says why).
test-python: setup
	@$(PY) -m pytest -q -p no:cacheprovider tests/python --ignore=tests/python/with_r
	@$(PY) -m pytest -q -p no:cacheprovider tests/python/with_r

test-r: setup
	@Rscript -e 'testthat::test_local(".", reporter = testthat::ProgressReporter$$new(show_praise = FALSE, update_interval = 30), stop_on_failure = TRUE)'

# R CMD check on the built tarball, as CRAN would (no PDF manual: no LaTeX here).
check: setup
	@rm -rf $(BUILD)/check && mkdir -p $(BUILD)/check
	@cd $(BUILD)/check && R CMD build --no-build-vignettes $(CURDIR) >build.log 2>&1 \
	  || { cat build.log; exit 1; }
	@cd $(BUILD)/check && status=0; _R_CHECK_FORCE_SUGGESTS_=false \
	  R CMD check --no-manual keras3r_*.tar.gz >check.log 2>&1 || status=$$?; \
	  tail -n 8 check.log; \
	  if [ $$status -ne 0 ] || grep -qE "^Status: .*(ERROR|WARNING)" check.log; then \
	    cat keras3r.Rcheck/00check.log; exit 1; fi

test: setup lint test-python test-r check

bench: setup
	@$(PY) bench/bench_adamw.py
	@$(PY) bench/bench_adamw_jax.py
	@Rscript bench/bench_apply.R

clean:
	rm -rf $(BUILD) $(STAMPS)
