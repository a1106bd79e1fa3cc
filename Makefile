# The course's entry points. Two commands do all set-up on a fresh Debian/Ubuntu
# machine with Python 3.11+:   make book    and    make test
# Both are idempotent: the virtual environment is reused while the pins are
# unchanged, and a chapter is re-executed only when its inputs changed.

SHELL := /bin/bash
.DEFAULT_GOAL := help

PYTHON       ?= python3
VENV         ?= .venv
# The profile (smoke, standard, full): passed to gcrl as --profile when set; unset, gcrl takes
# $GCRL_PROFILE or its default (gcrl.course.profiles), and checks the name.
GCRL_PROFILE ?=
PROFILE_ARG := $(if $(GCRL_PROFILE),--profile $(GCRL_PROFILE))
# TORCH=system keeps a torch that is already installed (the container's CUDA
# build): the venv sees the system site-packages and torch is not reinstalled.
TORCH        ?= pip

PY   := $(VENV)/bin/python
PIP  := $(PY) -m pip
GCRL := $(VENV)/bin/gcrl

# Headless rendering: EGL (Mesa or the NVIDIA driver), OSMesa as the fallback.
RENDER_PKGS := libegl1 libgl1 libegl-mesa0 libosmesa6
BROWSER_PKGS := chromium chromium-driver

.PHONY: help install deps sysdeps browserdeps chapters book verify bench bench-gpu check test lab clean

help:
	@echo "make book     set up, execute every chapter (GCRL_PROFILE=smoke|standard|full, default standard), build _build/html"
	@echo "make test     set up, run the test suite (unit, contract, nbval smoke, -W book build, browser)"
	@echo "make chapters execute the chapters whose inputs changed (CHAPTERS=\"ch00 ...\" for some)"
	@echo "make verify   check results/<profile>/ against the deliverable declarations"
	@echo "make bench    the book's SAC+HER vs the library: time to 95% on FetchReach, then success on FetchPush in PUSH_MIN (25) min each"
	@echo "make bench-gpu  on a machine with an NVIDIA GPU: ms per gradient step (cpu, cuda x compile modes) and Push on cuda for a fixed clock"
	@echo "make check    check your solutions to the problem sets in exercises/ (CHAPTER=ch04 for one chapter)"
	@echo "make lab      JupyterLab on the chapters (py:percent files open as notebooks)"
	@echo "make clean    remove generated output (results/, _build/), keep the venv"

# --- set-up ------------------------------------------------------------------

# ensure_debs PACKAGES: install missing Debian packages when root, else name them and stop.
define ensure_debs
	@if ! command -v dpkg-query >/dev/null; then \
	  echo "note: not a Debian system; make sure these (Debian names) are installed: $(1)"; exit 0; fi; \
	missing=""; for pkg in $(1); do \
	  dpkg-query -W -f='$${Status}' $$pkg 2>/dev/null | grep -q "ok installed" || missing="$$missing $$pkg"; done; \
	if [ -z "$$missing" ]; then exit 0; fi; \
	if [ "$$(id -u)" = 0 ]; then \
	  echo "installing Debian packages:$$missing"; \
	  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends $$missing >/dev/null; \
	else \
	  echo "error: missing Debian packages:$$missing"; \
	  echo "       install them with:  sudo apt-get install$$missing   then run make again"; exit 1; fi
endef

sysdeps:
	$(call ensure_debs,$(RENDER_PKGS))

# The browser tests drive Debian's chromium (GCRL_CHROMIUM may name another binary).
browserdeps:
ifeq ($(GCRL_CHROMIUM),)
	$(call ensure_debs,$(BROWSER_PKGS))
endif

# Install stamps are named by the hash of what they installed, not by file
# times, so a repository mounted into the container does not look newer than
# the image's own installation.
DEPS_HASH := $(shell cat requirements.txt constraints.txt 2>/dev/null | sha256sum | cut -c1-16)
PKG_HASH  := $(shell cat pyproject.toml 2>/dev/null | sha256sum | cut -c1-16)
DEPS_STAMP := $(VENV)/.deps-$(DEPS_HASH)-$(TORCH)
PKG_STAMP  := $(VENV)/.gcrl-$(PKG_HASH)-$(DEPS_HASH)

$(VENV)/.python-ok:
	@$(PYTHON) -c 'import sys; sys.exit(sys.version_info < (3, 11))' 2>/dev/null || { \
	  echo "error: $(PYTHON) is missing or older than 3.11; pass PYTHON=python3.11 (or newer)"; exit 1; }
	@if [ "$(TORCH)" = system ]; then $(PYTHON) -m venv --system-site-packages $(VENV); else $(PYTHON) -m venv $(VENV); fi || { \
	  echo "error: could not create $(VENV); on Debian/Ubuntu: sudo apt-get install python3-venv"; exit 1; }
	@$(PIP) install -q --upgrade pip setuptools wheel
	@touch $@

# Third-party dependencies only: the container image runs this same target.
$(DEPS_STAMP): | $(VENV)/.python-ok
	@echo "installing pinned dependencies into $(VENV) (TORCH=$(TORCH))"
	@if [ "$(TORCH)" = system ]; then \
	  grep -v '^torch==' requirements.txt > $(VENV)/requirements.txt; \
	  grep -v '^torch==' constraints.txt > $(VENV)/constraints.txt; \
	  $(PY) -c 'import torch; print("keeping torch", torch.__version__)'; \
	else cp requirements.txt constraints.txt $(VENV)/; fi
	@$(PIP) install -q -r $(VENV)/requirements.txt -c $(VENV)/constraints.txt
	@touch $@

$(PKG_STAMP): $(DEPS_STAMP)
	@$(PIP) install -q --no-deps -e .
	@touch $@

deps: $(DEPS_STAMP)
install: $(PKG_STAMP)

# --- the main job --------------------------------------------------------------

chapters: install sysdeps
	$(GCRL) run $(PROFILE_ARG) $(CHAPTERS)

book: install sysdeps
	$(GCRL) book $(PROFILE_ARG)

verify: install
	$(GCRL) verify $(PROFILE_ARG)

# A benchmark, not a test: it prints what it measured and writes _build/bench/bench_FetchReach-v4.json, then
# gives the book's Push recipe and the zoo's TQC+HER PUSH_MIN minutes each (bench_FetchPush-v4.json and .png).
PUSH_MIN ?= 25
bench: install
	$(GCRL) bench $(BENCH_ARGS)
	$(GCRL) bench --push --budget-min $(PUSH_MIN)

# The problem sets: exercises/chNN.py is the reader's (created from the stub on first check, never overwritten).
check: install
	$(GCRL) check $(CHAPTER)

# JupyterLab refuses to start as root unless given --allow-root; as root (a root shell, or the
# container started by a root host user) make lab passes it and says so.
lab: install sysdeps
	@if [ "$$(id -u)" = 0 ]; then \
	  echo "note: running as root, so JupyterLab is started with --allow-root; code in the notebooks runs as root"; \
	  root=--allow-root; fi; \
	$(VENV)/bin/jupyter lab $$root $(LAB_ARGS) notebooks/

# --- tests -------------------------------------------------------------------
# nbval executes every chapter first (exported to .ipynb with the smoke profile's
# parameters injected, as papermill would run it), into a results folder of its
# own; tests/nbval_runs.py records each passing chapter as a run there, and the
# smoke book the book and browser tests build reuses those runs rather than
# executing the chapters twice. The other tests run chapters and builds in tmp
# dirs. The browser tests leave screenshots of every page in _build/test-artifacts/.

NBVAL_DIR := _build/nbval

test: install sysdeps browserdeps
	@rm -rf $(NBVAL_DIR) && GCRL_PROFILE=smoke $(GCRL) export-notebooks $(NBVAL_DIR) \
	  --results $(CURDIR)/$(NBVAL_DIR)/results >/dev/null
	GCRL_PROFILE=smoke GCRL_RESULTS=$(CURDIR)/$(NBVAL_DIR)/results \
	  $(PY) -m pytest $(NBVAL_DIR) tests --nbval-lax -p no:cacheprovider

clean:
	rm -rf results _build book/chapters

# A GPU probe for a short lease on a machine with one NVIDIA GPU: ms per gradient step (cpu and cuda x compile modes,
# the recipe's size and a larger one) and Push trained on cuda for a fixed wall clock; _build/bench/gpu_probe.json.
bench-gpu: install
	$(PY) scripts/gpu_probe.py --out _build/bench
