# Two commands on a fresh machine: `make demo` and `make test`. Everything else is a helper of those.
PYTHON ?= python3
VENV   := .venv
PY     := $(VENV)/bin/python

.PHONY: setup demo test test-fast lint bench package chromium clean

$(VENV)/.installed: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -e '.[test]'
	touch $@

node_modules/.installed: package.json package-lock.json
	npm ci --no-audit --no-fund --loglevel=error
	touch $@

setup: $(VENV)/.installed node_modules/.installed ## virtualenv + Python and npm dependencies

chromium: ## Debian's chromium for the card-renderer and browser tests (installs it when run as root)
	@bash scripts/ensure-chromium.sh

demo: setup ## the simulated tenant + the bot + the Agents Playground; prints the URL to open
	$(PY) -m devtools.demo

lint: setup
	$(PY) -m ruff check .
	$(PY) -m mypy
	$(VENV)/bin/lint-imports

test: setup chromium lint ## everything: lint, types, import layers, unit, HTTP, Playground and browser tests
	$(PY) -m pytest -q -n 4 --durations=15

test-fast: setup ## unit and in-process HTTP tests, the slow ones left out: no subprocess, Playground or browser
	$(PY) -m pytest -q -m "(unit or stack) and not slow"

bench: setup ## writes docs/benchmarks.md
	$(PY) -m bench

package: setup ## build/appPackage.zip (bot id from env MicrosoftAppId, else a demo GUID)
	$(PY) -m manifest.build --bot-app-id "$${MicrosoftAppId:-00000000-0000-0000-0000-000000000000}" --out build/appPackage.zip

clean:
	rm -rf build var .pytest_cache .mypy_cache .ruff_cache
