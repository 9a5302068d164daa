# OKPay: `make run` to try it, `make test` to check it. See README.md.
SHELL := /bin/bash
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
VENDOR := src/okpay/web/static/vendor
HOST ?= 127.0.0.1
PORT ?= 8000
# `make test` runs the test files on one process per core (at most four; each has its own
# PostgreSQL schema); PARALLEL= runs them in this process.
PARALLEL ?= -n auto --maxprocesses 4 --dist loadfile

.PHONY: install run test test-fast fuzz lint fmt typecheck i18n bench clean browser-deps bench-deps assets

install: $(BIN)/.installed assets browser-deps bench-deps  ## Python env in .venv, front-end assets, Chromium, wrk

$(BIN)/.installed: pyproject.toml
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[dev]'
	@touch $@

assets: $(VENDOR)/.installed

$(VENDOR)/.installed: package.json package-lock.json
	npm ci --no-audit --no-fund --ignore-scripts --loglevel=error
	rm -rf $(VENDOR) && mkdir -p $(VENDOR)/htmx $(VENDOR)/pico $(VENDOR)/swagger-ui $(VENDOR)/html-to-image $(VENDOR)/axe
	cp node_modules/htmx.org/dist/htmx.min.js $(VENDOR)/htmx/
	cp node_modules/html-to-image/dist/html-to-image.js $(VENDOR)/html-to-image/
	cp node_modules/@picocss/pico/css/pico.min.css $(VENDOR)/pico/
	cp node_modules/swagger-ui-dist/swagger-ui.css node_modules/swagger-ui-dist/swagger-ui-bundle.js $(VENDOR)/swagger-ui/
	cp node_modules/axe-core/axe.min.js $(VENDOR)/axe/
	@touch $@

# Browser tests drive Debian's chromium; screenshots need a CJK font to show Chinese.
# Install both when we are root and either is missing.
browser-deps:
	@if [ ! -x /usr/bin/chromium ] || [ ! -f /usr/share/fonts/opentype/noto/NotoSansCJK-Regular.ttc ]; then \
	  if [ "$$(id -u)" = 0 ]; then \
	    echo "installing Debian's chromium and fonts-noto-cjk for browser tests"; \
	    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium fonts-noto-cjk >/dev/null; \
	  else echo "note: chromium or fonts-noto-cjk missing and not root; browser tests will skip outside CI"; fi; \
	fi

# bench/ledger.py drives HTTP with Debian's wrk (a C load generator, so that the client is
# not what bounds the figures). Install it when we are root and it is missing.
bench-deps:
	@if ! command -v wrk >/dev/null; then \
	  if [ "$$(id -u)" = 0 ]; then \
	    echo "installing Debian's wrk for the HTTP benches"; \
	    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq wrk >/dev/null; \
	  else echo "note: wrk missing and not root; bench/ledger.py will skip its HTTP figures"; fi; \
	fi

run: install  ## migrate, load demo data, serve on http://$(HOST):$(PORT)
	$(BIN)/okpay db upgrade
	$(BIN)/okpay demo load
	$(BIN)/okpay kb sync
	$(BIN)/okpay serve --host $(HOST) --port $(PORT)

test: install  ## lint, types, import layers, then the whole suite: unit, SQLite + PostgreSQL, browser
	$(BIN)/ruff check src tests bench tools
	$(BIN)/mypy
	$(BIN)/lint-imports
	$(BIN)/python -m pytest $(PARALLEL) $(PYTEST_ARGS)

test-fast: install  ## SQLite only, no browser, no API fuzzing
	OKPAY_TEST_DATABASES=sqlite $(BIN)/python -m pytest -m "not browser and not fuzz" $(PYTEST_ARGS)

fuzz: install  ## only the bounded schemathesis run over the JSON API (also part of `make test`)
	$(BIN)/python -m pytest -m fuzz -s $(PYTEST_ARGS)

lint: install
	$(BIN)/ruff check src tests bench tools
	$(BIN)/ruff format --check src tests bench tools
	$(BIN)/mypy
	$(BIN)/lint-imports

fmt: install
	$(BIN)/ruff format src tests bench tools
	$(BIN)/ruff check --fix src tests bench tools

i18n: install  ## extract strings and update the zh_CN and en catalogs
	$(BIN)/python tools/i18n.py

bench: install
	$(BIN)/python bench/auth.py
	$(BIN)/python bench/helpcenter.py

clean:
	rm -rf $(VENV) node_modules $(VENDOR) .pytest_cache .ruff_cache .mypy_cache
