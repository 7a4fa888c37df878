# The two commands of the README. Both create .venv on first use.
SHELL := /bin/bash
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed
export PLOTLY_RENDERER := plotly_mimetype+notebook_connected
export HF_HUB_OFFLINE := 1
export MPLBACKEND := Agg
export PYDEVD_DISABLE_FILE_VALIDATION := 1
export OMP_WAIT_POLICY := PASSIVE
# one CPU float path on every x86-64 machine, for chapter execution and nbval alike (the runner sets
# the same: neurovis.core.regression.CPU_FLOAT_PATH, and a test keeps both in sync)
export ATEN_CPU_CAPABILITY ?= avx2
export ONEDNN_MAX_CPU_ISA ?= AVX2
export MKL_CBWR ?= AVX2

.PHONY: book test venv system-deps lint unit nbval nbval-other-isa check build browse clean

venv: $(STAMP)

$(STAMP): requirements.txt companion/pyproject.toml
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q -U pip
	$(PY) -m pip install -q -r requirements.txt
	$(PY) -m pip install -q -e ./companion
	$(PY) -m pip check
	touch $(STAMP)

## make book: execute every chapter at scale="small" into book/chapters/, then build the HTML book
book: venv
	$(PY) -m neurovis run --scale small; rc=$$?; \
	$(PY) -m neurovis build && echo "The book: $(CURDIR)/_build/html/index.html"; \
	exit $$rc

## make test: code style (ruff), unit tests, nbval on every executed chapter, freshness check, book build, browser check
test: venv system-deps lint unit nbval nbval-other-isa check build browse

# Debian packages the tests need, installed when missing (root, or sudo): headless Chromium and its
# driver for the browser test, a Java runtime for METEOR (pycocoevalcap, chapter 07)
SUDO := $(shell [ "$$(id -u)" = 0 ] || echo sudo)
APT_PKGS := $(if $(shell command -v chromium),,chromium) $(if $(shell command -v chromedriver),,chromium-driver) \
            $(if $(shell command -v java),,default-jre-headless)
system-deps:
	@if [ -n "$(strip $(APT_PKGS))" ]; then export DEBIAN_FRONTEND=noninteractive; echo "apt-get install $(APT_PKGS)"; \
	  $(SUDO) apt-get install -y -q --no-install-recommends $(APT_PKGS) >/dev/null \
	  || { $(SUDO) apt-get update -q >/dev/null && $(SUDO) apt-get install -y -q --no-install-recommends $(APT_PKGS) >/dev/null; }; fi
	@command -v chromium chromedriver java

# ruff: lines <= 100 characters and the rule set of companion/pyproject.toml ([tool.ruff]), over
# companion/ and notebooks/ (ruff.toml extends it to the chapter sources). To fix: `python -m
# neurovis format` (keeps chapter cells' trailing ';'), then `python -m neurovis resync`
lint:
	$(PY) -m ruff check companion notebooks
	$(PY) -m ruff format --check companion notebooks

# two pytest workers, one BLAS/OpenMP thread each (two 2-thread workers on 2 cores spin-wait badly)
unit:
	OMP_NUM_THREADS=1 NEUROVIS_THREADS=1 NEUROVIS_REQUIRE_BROWSER=1 bash .ci/pytest-or-fail companion/tests -n 2 --dist loadfile -p no:cacheprovider

nbval:
	@if ls book/chapters/*.ipynb >/dev/null 2>&1; then \
	  NEUROVIS_THREADS=1 NEUROVIS_PROGRESS=0 NEUROVIS_RESULTS_DIR=$$(mktemp -d) bash .ci/pytest-or-fail --nbval-lax --nbval-sanitize-with book/nbval_sanitize.cfg \
	    -p no:cacheprovider -n 2 --dist loadfile book/chapters/; \
	else echo "nbval: no executed chapters yet"; fi

# The proof that the checked outputs do not depend on the CPU: two training chapters, executed on the
# pinned AVX2 path, re-run by nbval on another float path (no SIMD in ATen, SSE4.1 oneDNN, MKL's
# compatible path), as a machine without AVX2, or with other kernels, would take.
ISA_CHAPTERS := book/chapters/01_depression.ipynb book/chapters/09_checkout.ipynb
nbval-other-isa:
	ATEN_CPU_CAPABILITY=default ONEDNN_MAX_CPU_ISA=SSE41 MKL_CBWR=COMPATIBLE $(PY) -c \
	  "import torch; print('nbval-other-isa: torch CPU capability', torch.backends.cpu.get_cpu_capability())"
	ATEN_CPU_CAPABILITY=default ONEDNN_MAX_CPU_ISA=SSE41 MKL_CBWR=COMPATIBLE \
	  NEUROVIS_THREADS=1 NEUROVIS_PROGRESS=0 NEUROVIS_RESULTS_DIR=$$(mktemp -d) bash .ci/pytest-or-fail --nbval-lax \
	  --nbval-sanitize-with book/nbval_sanitize.cfg -p no:cacheprovider -n 2 --dist loadfile $(ISA_CHAPTERS)

check:
	$(PY) -m neurovis check
	$(PY) -m neurovis data

build:
	$(PY) -m neurovis build

# every page of the built book in headless Chromium (offline): console errors, figures, math, widgets,
# links; screenshots of each chapter's first screen in _build/screenshots/
browse:
	$(PY) -m neurovis browse

clean:
	rm -rf _build
