# Everything a fresh clone needs: `make run` to start the bot, `make test` to check it.
PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
PO_FILES := $(wildcard locales/*/LC_MESSAGES/messages.po)
MO_FILES := $(PO_FILES:.po=.mo)
# _ and friends, and the user-facing errors whose first argument is a msgid.
I18N_KEYWORDS := -k _ -k N_ -k ngettext:1,2 -k UserError -k ValidationError -k InvalidTargets \
	-k NotConfigured -k RunInProgress -k ShuttingDown -k TradingHalted \
	-k PreviewExpired -k ReadsThrottled

# The lock files pin every package (runtime, dev tools, the installer and build backend) with
# their hashes, for CPython 3.11 on Linux x86_64. Change pyproject.toml, then `make lock`;
# `make upgrade-deps` moves every pin to the newest allowed version. Both need only PyPI.
LOCK_FLAGS := --generate-hashes --python-version 3.11 --python-platform x86_64-manylinux_2_28 \
	--custom-compile-command "make lock" --quiet
LOCK_RUNTIME := requirements/runtime.txt
LOCK_DEV := requirements/dev.txt

.PHONY: setup run test lint format i18n migration bench soak clean lock upgrade-deps

setup: $(STAMP) $(MO_FILES)

$(STAMP): pyproject.toml $(LOCK_DEV)
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --require-hashes -r $(LOCK_DEV)
	$(BIN)/python -m pip install --quiet --no-deps --no-build-isolation -e .
	$(BIN)/python -m pip check
	@touch $(STAMP)

lock:
	@test -x $(BIN)/uv || (echo 'run `make setup` first: uv comes with the locked dev tools' && exit 2)
	$(BIN)/uv pip compile pyproject.toml $(LOCK_FLAGS) $(UPGRADE) -o $(LOCK_RUNTIME)
	$(BIN)/uv pip compile pyproject.toml requirements/tools.in --extra dev -c $(LOCK_RUNTIME) \
		$(LOCK_FLAGS) $(UPGRADE) -o $(LOCK_DEV)

upgrade-deps:
	$(MAKE) lock UPGRADE=--upgrade

locales/%/LC_MESSAGES/messages.mo: locales/%/LC_MESSAGES/messages.po $(STAMP)
	$(BIN)/pybabel compile --statistics -D messages -i $< -o $@

run: setup
	$(BIN)/rebalance-bot run

test: setup lint
	$(BIN)/pytest -q

lint: setup
	$(BIN)/ruff check bot tests bench migrations
	$(BIN)/ruff format --check bot tests bench migrations
	$(BIN)/mypy

format: setup
	$(BIN)/ruff check --fix bot tests bench migrations
	$(BIN)/ruff format bot tests bench migrations

i18n: setup
	$(BIN)/pybabel extract -F babel.cfg $(I18N_KEYWORDS) --no-location --sort-output --width=100 \
		--project=rebalance-bot -o locales/messages.pot .
	$(BIN)/pybabel update -i locales/messages.pot -d locales -D messages --no-fuzzy-matching --ignore-obsolete --width=100
	$(MAKE) --always-make $(MO_FILES)

migration: setup
	@test -n "$(m)" || (echo 'usage: make migration m="what changes"' && exit 2)
	$(BIN)/alembic revision --autogenerate -m "$(m)"

bench: setup
	$(BIN)/python -m bench

soak: setup
	SOAK_FULL=1 $(BIN)/pytest -q tests/soak -p no:randomly

clean:
	rm -rf $(VENV) .mypy_cache .ruff_cache .pytest_cache .hypothesis $(MO_FILES)
