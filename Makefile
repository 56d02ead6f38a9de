# Two commands do all set-up on a fresh machine:  make demo  /  make test
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin

.PHONY: demo test check lint serve bench clean infra-check

demo: $(VENV)/.installed
	$(BIN)/relay demo

test: lint node_modules/.installed
	$(BIN)/pytest -q

# ruff (pyflakes, pycodestyle, import order, no relative or private imports, bugbear, pyupgrade) and mypy on relay/.
lint: $(VENV)/.installed
	$(BIN)/ruff check relay handlers function_app.py tests bench infra
	$(BIN)/mypy

# The fast unit tier: no Azurite, no Node, no child process, no loopback server, no sleeping; each property
# test with a tenth of its examples (tests/conftest.py). `make test` runs everything in full.
check: $(VENV)/.installed
	RELAY_HYPOTHESIS_PROFILE=check $(BIN)/pytest -q -m "not integration"

serve: $(VENV)/.installed
	$(BIN)/relay serve --inventory examples/inventory.json

bench: $(VENV)/.installed node_modules/.installed
	@for b in bench/*.py; do echo "== $$b"; $(BIN)/python $$b || exit 1; done

$(VENV)/.installed: requirements.txt requirements-dev.txt pyproject.toml
	@$(PYTHON) -c 'import sys; sys.exit(sys.version_info < (3, 11))' || { echo "Python 3.11 or newer is needed (set PYTHON=...)"; exit 1; }
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -r requirements-dev.txt -e .
	@touch $@

# Offline Bicep checks: pycep-parser parses every infra/*.bicep, then checkov's Bicep checks (see infra/check.py).
# checkov gets a venv of its own inside .venv: its pins (packaging==23.2) differ from the app's tools.
INFRA_VENV := $(VENV)/infra

infra-check: $(INFRA_VENV)/.installed
	$(INFRA_VENV)/bin/python infra/check.py

$(INFRA_VENV)/.installed: requirements-infra.txt
	$(PYTHON) -m venv $(INFRA_VENV)
	$(INFRA_VENV)/bin/python -m pip install --quiet --upgrade pip
	$(INFRA_VENV)/bin/python -m pip install --quiet -r requirements-infra.txt
	@touch $@

node_modules/.installed: package.json package-lock.json
	npm ci --no-audit --no-fund --loglevel=error
	@touch $@

clean:
	rm -rf $(VENV) node_modules outbox .relay .pytest_cache
