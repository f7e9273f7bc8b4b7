# Machi: `make demo` and `make test` each create .venv and install what they need.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: demo test install lint typecheck audit openapi messages bench clean

$(STAMP): pyproject.toml
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip setuptools
	$(BIN)/python -m pip install --quiet -e ".[dev]"
	@touch $(STAMP)

install: $(STAMP)

demo: $(STAMP)
	$(BIN)/machi demo

test: $(STAMP)
	$(BIN)/pytest

lint: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

typecheck: $(STAMP)
	$(BIN)/mypy

# Known vulnerabilities in the installed dependencies, offline (.ci/osv/README.md).
audit: $(STAMP)
	.ci/audit

# Write the committed OpenAPI document again after an API change (a test compares them).
openapi: $(STAMP)
	$(BIN)/machi export_openapi_schema --api machi.config.api.api --indent 2 --sorted --output docs/openapi.json

# Extract and compile translations (needs gettext's msgfmt; the .mo files are committed).
messages: $(STAMP)
	cd src/machi && ../../$(BIN)/machi makemessages -l ja -l en --no-obsolete --no-location
	cd src/machi && ../../$(BIN)/machi compilemessages

bench: $(STAMP)
	$(BIN)/python bench/pages.py

clean:
	rm -rf $(VENV) var .pytest_cache .mypy_cache .ruff_cache
