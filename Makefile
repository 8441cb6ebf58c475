# Deep Learning from First Principles: build, test and work on the course.
#   make book   - set up everything (venv, data, JS), build the book, print where it is
#   make test   - set up everything, then run every check CI runs
# Extras: make serve | lab | execute | bench | lint | unit | nbval | browser | clean
#   (make nbval CH=03 / make execute CH=03: one chapter only)

SHELL := /bin/bash
.SHELLFLAGS := -eu -o pipefail -c
.DEFAULT_GOAL := help
.PHONY: help book test serve lab execute bench lint unit nbval build-book browser slow runs setup data vendor system clean

VENV   := .venv
PY     := $(VENV)/bin/python
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed
VENDOR := book/_vendor
NPM_PKGS := @jupyter-widgets/html-manager@1.0.15 requirejs@2.3.8 mathjax@3.2.2 axe-core@4.14.1
PORT   ?= 8000
# Quiet progress bars, reproducible hashing, no kernel debugger noise. (No MPLBACKEND: kernels need inline.)
export DLCORE_QUIET ?= 1
export PYTHONHASHSEED := 0
export PYDEVD_DISABLE_FILE_VALIDATION := 1
export PATH := $(abspath $(BIN)):$(PATH)
BOOK_FLAGS := -W -n --keep-going --all
# Notebooks run with one BLAS thread, in `make execute` and under nbval alike: float32 sums then come out
# bit-identical in both (the stored outputs are what nbval compares against), and a busy machine does not
# slow OpenBLAS's spinning threads down by an order of magnitude.
NB_ENV := OPENBLAS_NUM_THREADS=1 OMP_NUM_THREADS=1 MKL_NUM_THREADS=1
NBVAL := $(BIN)/pytest --nbval --nbval-current-env --nbval-sanitize-with tests/nbval_sanitize.cfg \
         -p no:cacheprovider -o addopts="" -q
# The chapters that `make nbval` and `make execute` work on: all of them, or those named by CH, e.g.
# `make nbval CH=03` or `make execute CH="1 4"` (a chapter's number, with or without its leading zero).
CH ?=
NOTEBOOKS = $(if $(strip $(CH)),$(sort $(foreach c,$(CH),$(wildcard chapters/$(c)_*.ipynb chapters/0$(c)_*.ipynb))),$(wildcard chapters/*.ipynb))
check-notebooks = @test -n "$(NOTEBOOKS)" || { echo "no chapter matches CH=$(CH) (chapters/NN_*.ipynb)"; exit 1; }

help:
	@sed -n '1,6p' Makefile | sed 's/^# \{0,1\}//'

## ---- provisioning (quick when everything is already in place) ----------------------
# System packages (Debian/Ubuntu as root): the Fashion-MNIST data set, the fortunes text corpus and, on Debian,
# Chromium for the browser
# check. Ubuntu's `chromium` package is only a shim for the snap, which does not run in containers or CI, so on
# Ubuntu install Google Chrome instead (the browser check finds google-chrome, or set CHROMIUM_PATH).
BROWSERS := chromium chromium-browser google-chrome google-chrome-stable
system:
	@have_browser=$${CHROMIUM_PATH:+yes}; \
	for b in $(BROWSERS); do command -v $$b >/dev/null && have_browser=yes; done; \
	if [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null; then \
	  need=""; \
	  [ -d /usr/share/datasets/fashion-mnist ] || need="$$need dataset-fashion-mnist"; \
	  [ -f /usr/share/games/fortunes/linux ] || need="$$need fortunes"; \
	  if [ -z "$$have_browser" ]; then \
	    if grep -qx 'ID=debian' /etc/os-release 2>/dev/null; then need="$$need chromium"; \
	    else echo "no Chromium/Chrome found: install Google Chrome, or set CHROMIUM_PATH (see book/setup.md)"; fi; \
	  fi; \
	  if [ -n "$$need" ]; then echo "apt-get install$$need"; \
	    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq $$need >/dev/null; fi; \
	else echo "not root on Debian/Ubuntu: install dataset-fashion-mnist (or run python -m dlcore.data --download), fortunes" \
	  "and Chromium or Chrome yourself if missing (see book/setup.md)"; fi

$(STAMP): requirements.txt pyproject.toml
	@test -x $(PY) || python3 -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip 2>&1 | grep -v '^WARNING: Location' || true
	$(PY) -m pip install -q -r requirements.txt 2>&1 | grep -v '^WARNING: Location' || true
	$(PY) -m pip install -q --no-deps -e . 2>&1 | grep -v '^WARNING: Location' || true
	$(PY) -c "import dlcore, torch, torchvision, jupyter_book, nbval, playwright" 
	@touch $@

# JavaScript served with the book instead of from a CDN: the ipywidgets HTML manager and MathJax; and axe-core,
# which only the browser check injects into the pages (book/_vendor/axe is not served with the book).
$(VENDOR)/.stamp: Makefile
	rm -rf $(VENDOR) && mkdir -p $(VENDOR)/npm $(VENDOR)/extra/widgets $(VENDOR)/static/mathjax $(VENDOR)/axe
	cd $(VENDOR)/npm && npm install --silent --no-audit --no-fund --ignore-scripts --prefix . $(NPM_PKGS)
	cp -r $(VENDOR)/npm/node_modules/@jupyter-widgets/html-manager/dist/. $(VENDOR)/extra/widgets/
	cp $(VENDOR)/npm/node_modules/requirejs/require.js $(VENDOR)/extra/widgets/
	cp -r $(VENDOR)/npm/node_modules/mathjax/es5/. $(VENDOR)/static/mathjax/
	cp $(VENDOR)/npm/node_modules/axe-core/axe.min.js $(VENDOR)/axe/
	rm -rf $(VENDOR)/npm
	@touch $@

setup: system $(STAMP) $(VENDOR)/.stamp data
vendor: $(VENDOR)/.stamp

data: $(STAMP)
	$(PY) -m dlcore.data --prepare

## ---- the two commands -----------------------------------------------------------------
book: setup build-book
	@echo "The book: file://$(abspath _build/html/index.html)   (or: make serve)"

test: setup
	@start=$$(date +%s); \
	$(MAKE) --no-print-directory lint unit nbval build-book browser; \
	echo "make test: PASSED - ruff, unit tests, nbval, book build (-W -n), browser check - in $$(( $$(date +%s) - start )) s"

## ---- the steps -----------------------------------------------------------------------
lint: $(STAMP)
	$(BIN)/ruff check .
	@echo "ruff: clean"

unit: $(STAMP)
	$(BIN)/pytest tests -m "not slow and not browser"

nbval: $(STAMP)
	$(check-notebooks)
	$(NB_ENV) $(NBVAL) $(NOTEBOOKS)

build-book: $(STAMP) $(VENDOR)/.stamp
	rm -rf _build/html _build/.doctrees
	$(BIN)/jupyter-book build . $(BOOK_FLAGS)

browser: $(STAMP) $(VENDOR)/.stamp
	$(BIN)/pytest tests/test_browser.py -m browser

slow: setup
	$(BIN)/pytest tests -m slow

bench: setup
	$(PY) tests/bench/bench_speed.py

# The long PyTorch runs whose results the chapters read (chapters/runs/*.json): about 45 minutes on 2 cores.
runs: setup
	$(PY) chapters/runs/ch07_resnet.py
	$(PY) chapters/runs/ch10_tuning.py

serve: book
	@echo "Serving on http://localhost:$(PORT)/ (Ctrl-C to stop)"
	$(PY) -m http.server $(PORT) --bind 127.0.0.1 -d _build/html

lab: setup
	DLCORE_QUIET=0 $(BIN)/jupyter lab chapters $$([ "$$(id -u)" = 0 ] && echo --allow-root)

# Re-executes every chapter (or those named by CH) in place, outputs and widget state stored, as the book
# and nbval expect.
execute: setup
	$(check-notebooks)
	$(NB_ENV) $(BIN)/jupyter nbconvert --to notebook --execute --inplace \
	  --ExecutePreprocessor.timeout=900 --ExecutePreprocessor.kernel_name=python3 $(NOTEBOOKS)

clean:
	rm -rf _build $(VENDOR) .pytest_cache .ruff_cache .hypothesis
