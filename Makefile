# CSM platform. Two commands on a fresh machine (Python 3.11, make, git):
#   make run    the whole system on embedded real servers, in the foreground (Ctrl-C stops it)
#   make test   lint, type check, and the whole test suite against real servers

PYTHON ?= python3
UV_VERSION := 0.13.9
TOOLS := .tools
VENV := .venv
BIN := $(VENV)/bin
# Use a uv already on PATH; otherwise install the pinned one from PyPI into .tools/.
UV := $(shell command -v uv 2>/dev/null || echo $(TOOLS)/bin/uv)
PYPROJECTS := pyproject.toml $(wildcard libs/*/pyproject.toml contracts/pyproject.toml services/*/pyproject.toml tools/*/pyproject.toml)

export UV_PYTHON_DOWNLOADS := never
export UV_LINK_MODE := copy

.PHONY: install run test lint typecheck pytest bench rehearsal rehearsal-upgrade infra-up infra-down infra-status mail admin schemas asyncapi clean

$(TOOLS)/bin/uv:
	$(PYTHON) -m venv $(TOOLS)
	$(TOOLS)/bin/pip install --quiet "uv==$(UV_VERSION)"

$(VENV)/.synced: uv.lock $(PYPROJECTS) | $(UV)
	$(UV) sync --frozen --python $(PYTHON)
	@touch $@

# The portal's GOV.UK Frontend and htmx come from npm (a successful `npm ci` writes this file).
PORTAL_ASSETS := services/portal/node_modules/.package-lock.json
$(PORTAL_ASSETS): services/portal/package-lock.json
	npm ci --prefix services/portal --no-audit --no-fund
	@touch $@

install: $(VENV)/.synced $(PORTAL_ASSETS)

run: install
	$(BIN)/csm-run

test: install lint typecheck pytest

lint: install
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/lint-imports

typecheck: install
	$(BIN)/mypy -p csm_kernel -p csm_contracts -p csm_infra \
		-p registration -p reporting -p questionnaire -p notification -p portal -p csm_audit

pytest: install
	sh scripts/ensure-chromium.sh
	$(BIN)/pytest

# The national deployment rehearsed here: three replicas of every service, faults, checks.
# SCALE=small (a few minutes; also in `make test`) or SCALE=national (a benchmark).
SCALE ?= small
rehearsal: install
	PYTHONPATH=tests/rehearsal:services/reporting/tests $(BIN)/python tests/rehearsal/rehearsal.py --scale $(SCALE)

# A rolling upgrade: AnswersSaved v2 deployed one replica at a time beside the release before
# it (run from git history, so a full clone is needed); also in `make test`.
rehearsal-upgrade: install
	PYTHONPATH=tests/rehearsal:services/reporting/tests $(BIN)/python tests/rehearsal/rehearsal_upgrade.py

bench: install
	$(BIN)/python bench/event_store.py
	$(BIN)/python bench/registration_organisations.py
	$(BIN)/python bench/registration_directory.py
	$(BIN)/python bench/registration_service_import.py
	$(BIN)/python bench/questionnaire_answers.py
	$(BIN)/python bench/notification_reminders.py
	$(BIN)/python bench/reporting.py

infra-up: install
	$(BIN)/csm-infra up

infra-down: install
	$(BIN)/csm-infra down

infra-status: install
	$(BIN)/csm-infra status

mail: install
	$(BIN)/csm-infra mail

# The first national admin: `make admin EMAIL=you@example.org NAME="Your Name"` while `make run`
# runs; the set-up link arrives by mail (`make mail`). The command finds registration's database
# as `make run` set it up (`CSM_PG_PORT`), as every `csm-<service>` command does.
admin: install
	$(BIN)/csm-registration create-account --email "$(EMAIL)" --name "$(NAME)"

schemas: install
	$(BIN)/python -m csm_contracts.schemas

asyncapi: install
	$(BIN)/python -m csm_contracts.asyncapi

clean:
	rm -rf $(VENV) $(TOOLS) .pytest_cache .mypy_cache .ruff_cache
