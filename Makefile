# napari-cryopick: the two commands of the README.
#   make demo   create .venv, install, pick a simulated sample (STAR + PNG)
#   make test   create .venv, install, system packages if missing, ruff, pytest
# Variables: PYTHON (interpreter for the venv), VENV, PYTEST_ARGS, PYTEST_WORKERS, DEMO_ARGS.

SHELL := /bin/bash
PYTHON ?= python3
VENV ?= .venv
PYTEST_ARGS ?=
# pytest processes (pytest-xdist): the suite uses both cores of a 2-core machine; 0 runs
# it in this process (e.g. to debug with --pdb)
PYTEST_WORKERS ?= 2
DEMO_ARGS ?=

VENV_PYTHON := $(VENV)/bin/python
# Written after a successful install; redone when the package's requirements change.
INSTALLED := $(VENV)/.napari-cryopick-installed
LINTED := src tests benchmarks

.PHONY: all demo test install venv system-deps lint format clean-install

all: test

# An existing .venv (any origin) is reused: only created when there is no python in it.
$(VENV_PYTHON):
	$(PYTHON) -m venv $(VENV)

venv: $(VENV_PYTHON)

# -c constraints.txt pins torch to the local CPU wheel instead of the CUDA build.
$(INSTALLED): pyproject.toml constraints.txt | $(VENV_PYTHON)
	$(VENV_PYTHON) -m pip install -c constraints.txt -e ".[testing]"
	touch $@

install: $(INSTALLED)

system-deps:
	bash scripts/install-system-deps.sh

demo: install
	$(VENV)/bin/cryopick demo $(DEMO_ARGS)

lint: install
	$(VENV)/bin/ruff check $(LINTED)
	$(VENV)/bin/ruff format --check $(LINTED)

format: install
	$(VENV)/bin/ruff check --fix $(LINTED)
	$(VENV)/bin/ruff format $(LINTED)

test: install system-deps lint
	$(VENV_PYTHON) -m pytest -n $(PYTEST_WORKERS) $(PYTEST_ARGS)

# Forget the install stamp so the next target reinstalls (keeps the venv).
clean-install:
	rm -f $(INSTALLED)
