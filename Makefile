# Two entry points: `make demo` (the lab) and `make test` (everything CI runs).
# Each creates and uses the virtualenv .venv itself.

PYTHON ?= python3
VENV   ?= .venv
BIN    := $(VENV)/bin
# Data files (Istio CRDs, kwok stages) for the tests: the shared testdata beside the
# checkout when present, else the lab reads them from the pinned Go modules.
DATA   ?= $(wildcard ../shared/testdata)

.PHONY: demo test lint unit integration e2e toolchain prometheus crds manifests clean

$(BIN)/.installed: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[dev]'
	touch $@

demo: prometheus toolchain $(BIN)/.installed
	$(BIN)/canary-operator lab demo $(if $(DATA),--data-dir $(DATA))

test: lint prometheus toolchain $(BIN)/.installed
	CANARY_OPERATOR_LAB_DATA=$(DATA) $(BIN)/pytest

lint: $(BIN)/.installed
	$(BIN)/ruff check .
	$(BIN)/mypy
	$(BIN)/lint-imports
	$(BIN)/hadolint Dockerfile

unit: $(BIN)/.installed
	$(BIN)/pytest tests/unit

integration: prometheus toolchain $(BIN)/.installed
	CANARY_OPERATOR_LAB_DATA=$(DATA) $(BIN)/pytest tests/integration

e2e: prometheus toolchain $(BIN)/.installed
	CANARY_OPERATOR_LAB_DATA=$(DATA) $(BIN)/pytest tests/e2e

# Build the control plane and helm once (minutes when cold; a no-op when cached).
toolchain: $(BIN)/.installed
	$(BIN)/canary-operator lab build

# After changing the API models: the CRDs, generated into every place that ships them.
crds: $(BIN)/.installed
	$(BIN)/canary-operator crds
	$(BIN)/canary-operator crds --output-dir deploy/helm/canary-operator/crds
	$(BIN)/canary-operator crds --output-dir deploy/kustomize/base/crds

# After changing the chart: the kustomize base, rendered from it with helm.
manifests: toolchain
	$(BIN)/python deploy/kustomize/render.py

# Debian's Prometheus, installed when missing (root or sudo needed for that).
prometheus:
	@command -v prometheus >/dev/null || test -x /usr/bin/prometheus || \
	  { echo "installing Debian's prometheus"; \
	    $$( [ "$$(id -u)" = 0 ] || echo sudo ) apt-get install -y --no-install-recommends prometheus \
	    || { $$( [ "$$(id -u)" = 0 ] || echo sudo ) apt-get update && \
	         $$( [ "$$(id -u)" = 0 ] || echo sudo ) apt-get install -y --no-install-recommends prometheus; }; }

clean:
	rm -rf $(VENV) .pytest_cache .mypy_cache .ruff_cache

# Benchmarks against Flagger v1.44.0 (built once into the lab cache): API economy, time to
# decision and scale; writes bench/results/report.md and plots. Long (tens of minutes):
# not part of `make test`. REPEAT=n repetitions; BENCH_ARGS for more (python -m bench -h).
.PHONY: bench
REPEAT ?= 3
bench: prometheus toolchain $(BIN)/.installed
	$(BIN)/python -m pip install --quiet -e '.[dev,bench]'
	$(BIN)/python -m bench --repeat $(REPEAT) --profile-n 500 $(if $(DATA),--data-dir $(DATA)) $(BENCH_ARGS)
