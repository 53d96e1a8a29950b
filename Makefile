# airflow-audit: the two commands a new user needs are `make demo` and `make test`.
SHELL := /bin/bash
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
MELTANO := $(BIN)/meltano
export PATH := $(CURDIR)/$(BIN):$(PATH)
# uv's cache is shared between the project venv and every plugin venv.
export UV_LINK_MODE ?= copy
# Bytecode compiled at install: a plugin then starts without compiling its imports, also where
# PYTHONDONTWRITEBYTECODE is set (container images often set it), which would redo that on every
# run of every plugin (about a second for the tap, more for dbt and Airflow).
export UV_COMPILE_BYTECODE ?= 1
export MELTANO_SEND_ANONYMOUS_USAGE_STATS := false
AIRFLOW_VERSION ?= 2.10.5

# The project's own packages: installed editable in .venv (tests, scripts and the demo import
# them as installed; their third-party dependencies live in the plugins' venvs, hence --no-deps)
# and in the plugins' venvs by each plugin's pip_url.
OWN_PACKAGES := core extract/tap-airflow-metadb load/airflow-audit-loader \
	utilities/airflow-audit-reconcile utilities/airflow-audit-backup utilities/airflow-audit-report \
	orchestrate
PLUGIN_SOURCES := meltano.yml $(wildcard */*.meltano.yml) \
	$(foreach p,$(OWN_PACKAGES),$(p)/pyproject.toml)

.PHONY: install demo report browser test test-durations test-unit test-all lint docs evaluate bench airflow schedules clean

install: $(VENV)/.plugins-installed ## Create .venv with Meltano and install every plugin

$(VENV)/.requirements-installed: requirements.txt $(foreach p,$(OWN_PACKAGES),$(p)/pyproject.toml)
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	@$(BIN)/python -m pip install --quiet --disable-pip-version-check uv==0.13.8
	$(BIN)/uv pip sync --quiet --python $(BIN)/python requirements.txt
	$(BIN)/uv pip install --quiet --no-deps --python $(BIN)/python $(foreach p,$(OWN_PACKAGES),-e ./$(p))
	@touch $@

$(VENV)/.plugins-installed: $(VENV)/.requirements-installed $(PLUGIN_SOURCES)
	$(MELTANO) install
	@touch $@

demo: install ## Run the whole job on a throwaway Airflow database into DuckDB, print a summary
	$(BIN)/python -m scripts.demo --airflow-version $(AIRFLOW_VERSION)

report: install ## Build the audit report from the marts into output/report/ (index.html); REPORT_ARGS="--warehouse snowflake"
	$(MELTANO) invoke airflow-audit-report $(REPORT_ARGS)

browser: ## Debian's Chromium for the report's browser tests (installed once, with apt-get)
	@test -x /usr/bin/chromium || { SUDO=$$([ "$$(id -u)" = 0 ] || echo sudo); \
		$$SUDO apt-get install -y -q chromium >/dev/null 2>&1 || \
		{ $$SUDO apt-get update -q >/dev/null && $$SUDO apt-get install -y -q chromium >/dev/null; }; }

# Test files run on TEST_WORKERS workers at once (pytest-xdist; `auto`: one per core), each file's
# tests in one worker, so a module's fixtures are built once (the files that share the session's full
# jobs, in one worker together; a few long files, one test at a time), the longest first by
# tests/durations.json: tests/conftest.py. TEST_WORKERS=0 runs them in this process.
TEST_WORKERS ?= auto
TEST_PARALLEL = $(if $(filter 0,$(TEST_WORKERS)),,-n $(TEST_WORKERS) --dist loadgroup --no-loadscope-reorder)

test: install airflow browser lint ## The test suite (every test that proves an issue's promise), after ruff
	$(BIN)/pytest -m "not slow" $(TEST_PARALLEL) --durations=20

test-durations: ## Run `make test` and write what each test took to tests/durations.json (the order the workers take them in)
	AIRFLOW_AUDIT_TEST_DURATIONS=$(CURDIR)/tests/durations.json $(MAKE) test

test-unit: install ## The fast tests: no PostgreSQL, no Airflow, no meltano run (about a minute)
	$(BIN)/pytest -m "not integration and not slow"

test-all: install airflow browser lint ## Every test, the slow scenarios included
	$(BIN)/pytest $(TEST_PARALLEL)

airflow: install ## Airflow 2.10.5 and 3.3.2 in .airflow/venv-2 and .airflow/venv-3 (reused when unchanged)
	$(BIN)/python orchestrate/install_airflow.py

schedules: install ## Rewrite orchestrate/dags/schedules.json after changing a schedule or a job
	$(BIN)/python orchestrate/export_schedules.py

lint: install ## ruff on the Python code
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

bench: install ## Sync and job costs against COPY and dlt, side by side (writes docs/benchmarks.md); BENCH_ARGS="--sizes 10000000" for 10M
	$(BIN)/python -m bench.run $(BENCH_ARGS)

docs: install ## Generate the dbt docs and serve them on http://localhost:8080
	$(MELTANO) invoke dbt-duckdb:docs-generate
	$(MELTANO) invoke dbt-duckdb:docs-serve

evaluate: install ## dbt-project-evaluator on the dbt project at severity error (needs dbt Hub, or local checkouts: EVALUATE_ARGS)
	$(BIN)/python scripts/evaluate_dbt_project.py $(EVALUATE_ARGS)

clean: ## Remove generated files (keeps .venv)
	rm -rf .meltano output transform/target transform/logs .demo
