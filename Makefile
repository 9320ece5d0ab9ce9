# The one task runner: CI, hooks and the README call these targets.
SHELL := /bin/bash
.DEFAULT_GOAL := help

VENV ?= .venv
PY := $(VENV)/bin/python
PIP := $(VENV)/bin/pip
DATA ?= data
CARGO := cd rust_ext && cargo

.PHONY: help setup widgets labextension templates dashboard-apps build run dashboards collect demo test lint typecheck rust-test python-test stubtest bench bench-browser bench-reports clean

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

# The charts' front end (TypeScript, lightweight-charts) as one ES module beside the widgets.
WIDGETS_SRC := extension/charts/package-lock.json extension/charts/build.mjs $(wildcard extension/charts/src/*.ts)
widgets: alphapulse/widgets/static/charts.js ## build the charts' front-end bundle (needs Node 18+ and npm)
alphapulse/widgets/static/charts.js: $(WIDGETS_SRC)
	cd extension/charts && npm ci --no-audit --no-fund --loglevel=error && node build.mjs

# The JupyterLab extension (TypeScript in extension/lab), built by jupyter-builder into the
# package's data directory: the wheel, and maturin develop, install it prebuilt, so a user
# needs no Node. Its node_modules are installed once per lock file.
LAB_EXT := alphapulse.data/data/share/jupyter/labextensions/@alphapulse/lab
LAB_SRC := extension/lab/package.json extension/lab/tsconfig.json extension/lab/install.json \
	$(wildcard extension/lab/src/*.ts extension/lab/schema/*.json extension/lab/style/*)
extension/lab/node_modules/.installed: extension/lab/package-lock.json
	cd extension/lab && npm ci --no-audit --no-fund --loglevel=error
	touch $@
labextension: $(LAB_EXT)/install.json ## build the JupyterLab extension (needs Node 18+ and npm)
$(LAB_EXT)/install.json: $(VENV)/.deps extension/lab/node_modules/.installed $(LAB_SRC)
	cd extension/lab && PATH="$(abspath $(VENV))/bin:$$PATH" npm run --silent build

# The research notebooks' templates (notebooks/*.ipynb) ship in the package; Lab's launcher
# offers them (GET alphapulse/api/templates). The report notebooks (notebooks/reports/) go to
# templates/reports/, where `alphapulse report` finds them in an installed package; the
# launcher lists the top level only.
templates: alphapulse/templates/.copied ## copy notebooks/*.ipynb and notebooks/reports/*.ipynb into the package
alphapulse/templates/.copied: $(wildcard notebooks/*.ipynb notebooks/reports/*.ipynb)
	rm -rf alphapulse/templates && mkdir -p alphapulse/templates/reports
	cp notebooks/*.ipynb alphapulse/templates/
	cp notebooks/reports/*.ipynb alphapulse/templates/reports/
	touch $@

# The Voila dashboards' notebooks (voila_apps/*.ipynb) ship in the package too, so that
# `alphapulse dashboards` has them where there is no source checkout (a wheel).
dashboard-apps: alphapulse/dashboards/apps/.copied ## copy voila_apps/*.ipynb into the package (the wheel's dashboards)
alphapulse/dashboards/apps/.copied: $(wildcard voila_apps/*.ipynb)
	rm -rf alphapulse/dashboards/apps && mkdir -p alphapulse/dashboards/apps && cp voila_apps/*.ipynb alphapulse/dashboards/apps/
	touch $@

# Release build: the core is what gets measured, and tests on it are fast either way. The
# front ends and templates first, so that the package (and a wheel) carries them.
build: setup widgets labextension templates dashboard-apps ## build the Rust core, widgets and Lab extension into .venv; `. .venv/bin/activate` puts alphapulse on the PATH
	$(VENV)/bin/maturin develop --release --quiet

# JupyterLab with the AlphaPulse server extension: the collectors run on the embedded
# simulator into $(DATA)/lake as a supervised background service. The URL with its token is
# printed first (a fresh token each run); Ctrl-C stops Lab and the collectors cleanly.
PORT ?= 8888
run: build ## JupyterLab with the collectors running on the embedded simulator (prints the URL)
	@token=$$($(PY) -c 'import secrets; print(secrets.token_hex(24))'); \
	echo; echo "    AlphaPulse in JupyterLab: http://127.0.0.1:$(PORT)/lab?token=$$token"; echo; \
	exec $(VENV)/bin/jupyter lab --no-browser --ip=127.0.0.1 --port=$(PORT) \
		--ServerApp.port_retries=0 --IdentityProvider.token=$$token \
		--AlphaPulse.lake=$(abspath $(DATA))/lake $(if $(filter 0,$(shell id -u)),--allow-root)

# The Voila dashboards (the monitoring wall and the news screen) in a Jupyter server of their
# own with the collectors on the embedded simulator into $(DATA)/lake; their URLs with a fresh
# token are printed first; Ctrl-C stops the server and the collectors.
DASHBOARDS_PORT ?= 8866
dashboards: build ## the Voila dashboards (monitor, news) with the collectors on the simulator (prints the URLs)
	$(PY) -m alphapulse dashboards --no-browser --port $(DASHBOARDS_PORT) --lake $(DATA)/lake

# The collector alone (no Jupyter), with a live status line; Ctrl-C (or DURATION=seconds)
# stops it cleanly.
collect: build ## collect from the embedded simulator into data/lake without Jupyter (Ctrl-C or DURATION=seconds)
	$(PY) -m alphapulse collect --simulated --lake $(DATA)/lake $(if $(DURATION),--duration $(DURATION))

# A capture in the venues' wire formats, replayed with every check.
demo: build ## write a capture in the venues' wire formats and replay it with --verify
	$(PY) -m alphapulse demo --out $(DATA)/demo.capture.zst
	$(PY) -m alphapulse replay --verify $(DATA)/demo.capture.zst

lint: setup widgets extension/lab/node_modules/.installed ## ruff check and format, cargo fmt and clippy, TypeScript (tsc strict, eslint, prettier) and its unit tests
	$(VENV)/bin/ruff check alphapulse tests
	$(VENV)/bin/ruff format --check alphapulse tests
	cd extension/charts && npm run --silent typecheck && npm test --silent
	cd extension/lab && npm run --silent lint && npm test --silent
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

# The browser's figures (chromium, a real `jupyter lab` at ~10k frames/s; minutes each, not
# peer comparisons): a live chart in a notebook, the Lab extension's panels, then the Voila
# monitoring dashboard (10 minutes: its kernel's memory).
bench-browser: build ## browser benchmarks: live chart streaming, Lab with the Monitor and 3 chart panels, the monitoring dashboard
	$(PY) -m tests.benchmarks.browser_stream
	$(PY) -m tests.benchmarks.lab_panels
	$(PY) -m tests.benchmarks.dashboard_bench

# The reports' figures: a daily summary over a 20-symbol day (made once under data/bench/)
# against the bare papermill command, and the scheduler's overhead per run against it.
bench-reports: build ## report benchmarks: a 20-symbol day's daily summary, the scheduler's overhead per run
	$(PY) -m tests.benchmarks.report_bench
	$(PY) -m tests.benchmarks.scheduler_bench

clean: ## remove .venv, the Rust build and data/
	rm -rf $(VENV) rust_ext/target $(DATA)
