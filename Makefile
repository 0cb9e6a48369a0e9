# Two commands do all the set-up: `make run` (local stack) and `make test` (the test suite).
# Each creates .venv and installs the pinned requirements the first time, and again whenever a
# requirements file changes.

PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
PIP := $(PY) -m pip --disable-pip-version-check
export JSII_SILENCE_WARNING_DEPRECATED_NODE_VERSION := 1
export PYTHONPATH := $(CURDIR)/lambdas:$(CURDIR)/containers:$(CURDIR)

RUN_REQS := requirements.txt lambdas/requirements.txt containers/requirements.txt constraints.txt
DEV_REQS := $(RUN_REQS) requirements-dev.txt

.PHONY: run test lint synth bench bench-peer clean

$(PY):
	$(PYTHON) -m venv $(VENV)

$(VENV)/.stamp-run: $(PY) $(RUN_REQS) pyproject.toml
	$(PIP) install --quiet -r requirements.txt -c constraints.txt
	$(PIP) install --quiet --no-deps -e .
	touch $@

$(VENV)/.stamp-dev: $(VENV)/.stamp-run $(DEV_REQS)
	$(PIP) install --quiet -r requirements-dev.txt -c constraints.txt
	touch $@

run: $(VENV)/.stamp-run
	$(PY) -m devstack

test: $(VENV)/.stamp-dev
	$(VENV)/bin/ruff check . && $(VENV)/bin/ruff format --check .
	$(PY) -m pytest -q

lint: $(VENV)/.stamp-dev
	$(VENV)/bin/ruff check . && $(VENV)/bin/ruff format --check .

synth: $(VENV)/.stamp-dev
	$(PY) app.py

bench: $(VENV)/.stamp-dev
	$(PY) bench/bench_proxy.py
	$(PY) bench/bench_clients.py
	$(PY) bench/bench_selection.py
	$(PY) bench/classifier_report.py
	$(PY) bench/import_time.py

clean:
	rm -rf $(VENV) cdk.out .pytest_cache

# MotherFluxer's full stack side by side with LiteLLM's proxy (installs LiteLLM into its own
# git-ignored venv, bench/.peer-venv, the first time).
bench-peer: $(VENV)/.stamp-dev
	$(PY) bench/bench_peer.py
