# Gatehouse: `make run` serves the embedded default; `make test` runs the suite.
PYTHON ?= python3
VENV   ?= .venv
BIN    := $(VENV)/bin

.PHONY: install run test test-postgres openapi translations bench lint clean

install: $(VENV)/.installed

$(VENV)/.installed: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[test]'
	touch $@

## The embedded default: SQLite, mail to .eml files, demo data, http://127.0.0.1:8000
run: install
	$(BIN)/gatehouse serve

## The test suite (SQLite unless TEST_DATABASE_URL names another database)
test: install
	$(BIN)/python -m pytest $(PYTEST_ARGS)

## The same suite on the local PostgreSQL, in a fresh database
test-postgres: install
	$(BIN)/python .ci/fresh_database.py -- $(MAKE) test

## Regenerate the committed OpenAPI document
openapi: install
	$(BIN)/flask --app wsgi openapi write --format json openapi/openapi.json

## Page translations: extract the strings (babel.cfg), merge them into every catalog (start one
## with LANGUAGE=fr), compile. Then translate what is new or fuzzy in the .po files, and run again.
CATALOGS := app/translations
translations: install
	$(BIN)/pybabel extract -F babel.cfg --project=Gatehouse --copyright-holder="Gatehouse contributors" \
		--add-comments=Translators: --sort-by-file -o $(CATALOGS)/messages.pot .
	$(if $(LANGUAGE),test -d $(CATALOGS)/$(LANGUAGE) || \
		$(BIN)/pybabel init -i $(CATALOGS)/messages.pot -d $(CATALOGS) -l $(LANGUAGE))
	$(BIN)/pybabel update -i $(CATALOGS)/messages.pot -d $(CATALOGS) --ignore-obsolete
	$(BIN)/pybabel compile -d $(CATALOGS) --statistics

## Load benchmarks (see bench/README.md)
bench: install
	$(BIN)/python bench/run.py --all

clean:
	rm -rf $(VENV) .pytest_cache
