# Two set-up commands matter: `make run` and `make test`. Each builds what it needs from a clean clone.
SHELL := /bin/bash
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
PORT ?= 8000
SIM_PORT ?= 8001
CONFIG ?= modelgate.yaml
PYTEST_ARGS ?=

.PHONY: run test lint typecheck bench bench-deps demo scorecard system-deps tools clean lock

# A real OTLP trace backend for the tracing integration tests, in a venv of its own: arize-phoenix pulls
# ~85 packages and pins some below ours, so it stays out of the project's environment.
PHOENIX_VERSION := 20.26.1
TOOLS := .tools

# The venv is rebuilt whenever pyproject.toml changes.
$(BIN)/.installed: pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip
	$(BIN)/pip install -q -e ".[dev]"
	touch $@

$(TOOLS)/phoenix/bin/phoenix:
	$(PYTHON) -m venv $(TOOLS)/phoenix
	$(TOOLS)/phoenix/bin/pip install -q --upgrade pip
	$(TOOLS)/phoenix/bin/pip install -q "arize-phoenix==$(PHOENIX_VERSION)"

tools: $(TOOLS)/phoenix/bin/phoenix

# Debian packages the integration tiers use: a real Redis for the shared budget ledger, a real
# Prometheus + promtool for prometheus.yml and alerts.yml, and a real Alertmanager (+ amtool) for
# deploy/alertmanager.yml and the scorecard. Installed only when missing.
system-deps:
	@missing=""; \
	command -v redis-server >/dev/null || missing="$$missing redis-server"; \
	command -v promtool >/dev/null || missing="$$missing prometheus"; \
	command -v prometheus-alertmanager >/dev/null || missing="$$missing prometheus-alertmanager"; \
	if [ -n "$$missing" ]; then \
	  echo "installing Debian packages:$$missing"; \
	  SUDO=$$( [ "$$(id -u)" = 0 ] || echo sudo ); \
	  $$SUDO apt-get update -qq && DEBIAN_FRONTEND=noninteractive $$SUDO apt-get install -y -qq $$missing >/dev/null; \
	fi

$(CONFIG): | $(BIN)/.installed
	$(BIN)/modelgate init --config $(CONFIG) --llm-upstream http://127.0.0.1:$(SIM_PORT)/v1

run: $(BIN)/.installed $(CONFIG)
	@$(BIN)/modelgate vllm-sim --host 127.0.0.1 --port $(SIM_PORT) & sim=$$!; \
	trap 'kill $$sim 2>/dev/null' EXIT INT TERM; \
	$(BIN)/modelgate serve --config $(CONFIG) --host 127.0.0.1 --port $(PORT)

# The images install exactly these (hashes checked): requirements/gateway.lock for the gateway (no jobs
# extra), requirements/jobs.lock for the jobs. Regenerate after changing dependencies in pyproject.toml.
LOCK_FLAGS := -q --generate-hashes --strip-extras --allow-unsafe --no-emit-index-url --no-emit-find-links
lock: $(BIN)/.installed
	$(BIN)/pip-compile $(LOCK_FLAGS) -o requirements/gateway.lock pyproject.toml
	$(BIN)/pip-compile $(LOCK_FLAGS) --extra jobs -o requirements/jobs.lock pyproject.toml

lint: $(BIN)/.installed
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

typecheck: $(BIN)/.installed
	$(BIN)/mypy gateway adapters monitoring evals

test: $(BIN)/.installed system-deps tools lint typecheck
	DO_NOT_TRACK=1 $(BIN)/pytest $(PYTEST_ARGS)

# The benchmarks' load generator, a Debian package (not needed by the tests).
bench-deps:
	@command -v wrk >/dev/null || { SUDO=$$( [ "$$(id -u)" = 0 ] || echo sudo ); \
	  $$SUDO apt-get update -qq && DEBIAN_FRONTEND=noninteractive $$SUDO apt-get install -y -qq wrk >/dev/null; }

bench: $(BIN)/.installed system-deps bench-deps
	DO_NOT_TRACK=1 $(BIN)/python -m bench

demo: $(BIN)/.installed
	DO_NOT_TRACK=1 $(BIN)/modelgate demo

# The full simulated month for three seeds through the shipped rules (docs/scorecard.md); `make test`
# runs a two-day form of it. Exit 1 when a fault missed its goal or false alarms exceed one a month.
SCORECARD_ARGS ?= --days 30 --seed 1 --seed 2 --seed 3
scorecard: $(BIN)/.installed system-deps
	DO_NOT_TRACK=1 $(BIN)/modelgate scorecard $(SCORECARD_ARGS) --json reports/scorecard.json --markdown reports/scorecard.md

clean:
	rm -rf $(VENV) $(TOOLS) .mypy_cache .ruff_cache .pytest_cache
