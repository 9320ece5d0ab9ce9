# The one task runner: CI, hooks and the README call these targets.
SHELL := /bin/bash
.DEFAULT_GOAL := help

VENV ?= .venv
PY := $(VENV)/bin/python
PIP := $(VENV)/bin/pip
DATA ?= data
CARGO := cd rust_ext && cargo

.PHONY: help setup build run demo test lint typecheck rust-test python-test stubtest bench clean

# Every target with a "## what it does" comment, so that a new target cannot be left out
# (tests/test_cli.py checks that every target has one).
help: ## this list
	@awk -F ':.*## ' '/^[A-Za-z0-9_-]+:.*## / { printf "make %-12s %s\n", $$1, $$2 }' $(MAKEFILE_LIST)

# The packages are read from pyproject.toml (the runtime dependencies and the dev extra), so
# the list lives in one place; the package itself is installed by `build` (maturin develop).
$(VENV)/.deps: pyproject.toml
	@command -v cargo >/dev/null || { echo "cargo is required (https://rustup.rs)"; exit 1; }
	python3 -m venv $(VENV)
	$(PIP) install -q --upgrade pip
	python3 -c 'import tomllib; p = tomllib.load(open("pyproject.toml", "rb"))["project"]; \
		print("\n".join(p["dependencies"] + p["optional-dependencies"]["dev"]))' \
		| tr '\n' '\0' | xargs -0 $(PIP) install -q
	touch $@

setup: $(VENV)/.deps ## create .venv with the Python tools (needs cargo)

# Release build: the core is what gets measured, and tests on it are fast either way.
build: setup ## build the Rust core into .venv; then `. .venv/bin/activate` puts alphapulse on the PATH
	$(VENV)/bin/maturin develop --release --quiet

# The collector on the embedded simulator (Kraken, Coinbase, Binance) into $(DATA)/lake, with
# a live status line; Ctrl-C (or DURATION=seconds) stops it cleanly.
run: build ## collect from the embedded simulator into data/lake (Ctrl-C or DURATION=seconds stops)
	$(PY) -m alphapulse collect --simulated --lake $(DATA)/lake $(if $(DURATION),--duration $(DURATION))

# A capture in the venues' wire formats, replayed with every check.
demo: build ## write a capture in the venues' wire formats and replay it with --verify
	$(PY) -m alphapulse demo --out $(DATA)/demo.capture.zst
	$(PY) -m alphapulse replay --verify $(DATA)/demo.capture.zst

lint: setup ## ruff check and format, cargo fmt and clippy
	$(VENV)/bin/ruff check alphapulse tests
	$(VENV)/bin/ruff format --check alphapulse tests
	$(CARGO) fmt --check
	$(CARGO) clippy --all-targets -- -D warnings
	$(CARGO) clippy --all-targets --features python -- -D warnings

typecheck: build ## mypy (strict on the package)
	$(VENV)/bin/mypy

stubtest: build ## check _core.pyi against the compiled module
	$(VENV)/bin/python -m mypy.stubtest alphapulse._core

rust-test: ## cargo test
	$(CARGO) test

python-test: build ## pytest
	$(VENV)/bin/pytest -q

test: lint typecheck stubtest rust-test python-test ## every check: lint, typecheck, stubtest, cargo test, pytest

# Rust-only figures first (criterion, their own table), then the Python side: ours and each
# peer interleaved on the same inputs, with their spread; see tests/benchmarks/measure.py.
# Not criterion's --quick: it keeps two samples, so there would be no spread to report.
CRITERION_ARGS ?= --warm-up-time 1 --measurement-time 3
bench: build ## benchmarks with their peers (not part of the tests); BENCH_ARGS=--quick to try
	$(PIP) install -q nautilus_trader
	$(CARGO) bench --bench core -- $(CRITERION_ARGS)
	$(PY) -m tests.benchmarks.run $(BENCH_ARGS)

clean: ## remove .venv, the Rust build and data/
	rm -rf $(VENV) rust_ext/target $(DATA)
