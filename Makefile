# The two quickstart commands (README): `make run` and `make test`.
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
PORT ?= 8080
# The ANS CDA test kit (not shipped): the team's shared copy when it is there, for the demo's CDA operations.
export DUI_CDA_KIT_DIR ?= $(abspath $(wildcard ../shared/ans/testcontenucda))

.PHONY: run test install install-test lint clean

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip

$(VENV)/.installed: pyproject.toml | $(BIN)/python
	$(BIN)/pip install --quiet -e .
	touch $@

$(VENV)/.installed-test: pyproject.toml $(VENV)/.installed tests/node/node_modules/.installed
	$(BIN)/pip install --quiet -e ".[test]"
	touch $@

# the tests' real peers in Node: the stand-in OpenID provider (oidc-provider) and the SMART JS client (fhirclient)
tests/node/node_modules/.installed: tests/node/package.json tests/node/package-lock.json
	npm ci --prefix tests/node --no-audit --no-fund --loglevel=error
	touch $@

install: $(VENV)/.installed
install-test: $(VENV)/.installed-test

## install, load the demo data into the embedded SQLite database and serve http://127.0.0.1:$(PORT)/fhir
run: install
	$(BIN)/dui demo
	$(BIN)/dui serve --host 127.0.0.1 --port $(PORT)

## install the test dependencies and run the whole suite (PostgreSQL too when DUI_TEST_DATABASE_URL is set)
test: install-test
	$(BIN)/pytest -n 2 --dist loadfile

lint: install-test
	$(BIN)/ruff check fhirserver mappings portals tests
	$(BIN)/mypy

clean:
	rm -rf $(VENV) var .pytest_cache tests/node/node_modules
