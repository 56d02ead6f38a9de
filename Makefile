# Two commands do all set-up on a fresh machine:  make demo  /  make test
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin

.PHONY: demo test serve bench clean

demo: $(VENV)/.installed
	$(BIN)/relay demo

test: $(VENV)/.installed node_modules/.installed
	$(BIN)/pytest -q

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

node_modules/.installed: package.json package-lock.json
	npm ci --no-audit --no-fund --loglevel=error
	@touch $@

clean:
	rm -rf $(VENV) node_modules outbox .relay .pytest_cache
