# Set-up: `make run` (the embedded demo) and `make test`. Both create .venv and install first.
SHELL := /bin/bash
PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python
JVM_DIR ?= .jvm
POMS := infra/jvm/pom.xml infra/jvm/broker/pom.xml infra/jvm/spark/pom.xml infra/jvm/udf/pom.xml $(wildcard infra/jvm/udf/src/main/java/nl/anpr/udf/*.java)
# Browser assets the APIs serve themselves (Swagger UI for /docs, Chart.js and Leaflet for the dashboard),
# pinned by npm's lock file.
NPM_LOCK := api/static/package.json api/static/package-lock.json
STAMP := $(VENV)/.installed-$(shell cat pyproject.toml $(POMS) $(NPM_LOCK) | sha1sum | cut -c1-12)
ARGS ?=
PYTEST_ARGS ?=

.PHONY: help run test test-unit bench lint api ingest install clean-data
.DEFAULT_GOAL := help

help:  ## list the targets
	@grep -E '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  make %-10s %s\n", $$1, $$2}'

$(STAMP): pyproject.toml $(POMS) $(NPM_LOCK)
	@command -v java >/dev/null || { echo "Java 17 is required by Spark and Kafka: apt-get install -y openjdk-17-jdk-headless"; exit 1; }
	@command -v mvn >/dev/null || { echo "Maven fetches the pinned Kafka and Spark connector jars: apt-get install -y maven"; exit 1; }
	@command -v npm >/dev/null || { echo "npm installs the pinned browser assets the APIs serve (/docs, /dashboard/): apt-get install -y npm"; exit 1; }
	@test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --disable-pip-version-check -e '.[dev]'
	@# The broker's and Spark's jars, pinned in infra/jvm/pom.xml; after this nothing needs a network.
	rm -rf $(JVM_DIR)
	mvn -q -B -f infra/jvm/pom.xml package dependency:copy-dependencies -DincludeScope=runtime \
		-DoutputDirectory='$(CURDIR)/$(JVM_DIR)/$${project.artifactId}'
	@# Exactly the lock file's versions. No install scripts: the only one (@scarf/scarf's) reports the install.
	npm ci --prefix api/static --ignore-scripts --no-audit --no-fund --loglevel=error
	@rm -f $(VENV)/.installed-* && touch $@

install: $(STAMP)  ## create .venv and install the project with its pinned dependencies

run: $(STAMP)  ## run the embedded platform end to end (ARGS=--no-serve to exit instead of serving)
	$(VENV)/bin/anpr run $(ARGS)

test: $(STAMP)  ## run all tests (unit and integration; real broker and Delta tables in temp dirs)
	$(PY) -m pytest $(PYTEST_ARGS)

test-unit: $(STAMP)  ## run only the tests that need no broker
	$(PY) -m pytest -m "not integration" $(PYTEST_ARGS)

bench: $(STAMP)  ## run the benchmarks; results go to bench/results/
	$(PY) -m bench $(ARGS)

lint: $(STAMP)  ## ruff, the stage contracts (import-linter) and mypy on the project's code
	$(VENV)/bin/ruff check anpr jobs streaming api cli tests bench
	$(VENV)/bin/lint-imports
	$(VENV)/bin/mypy

api: $(STAMP)  ## serve the vendor API over the published releases (port 8080)
	$(VENV)/bin/anpr serve-api $(ARGS)

ingest: $(STAMP)  ## serve the suppliers' ingest API (port 8081)
	$(VENV)/bin/anpr serve-ingest $(ARGS)

clean-data:  ## remove the local data directory (Delta tables, checkpoints, logs)
	rm -rf data
