# The two commands of the README: `make demo` and `make test`. Everything else is a helper.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin

.PHONY: demo test lint unit setup-dev setup-demo clean

$(VENV)/.installed-%: pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet -e '.[$*]'
	touch $@

setup-demo: $(VENV)/.installed-embedded
setup-dev: $(VENV)/.installed-dev

## Run the demo: embedded broker, SMTP sink, worker, generated traffic; ends by itself.
demo: setup-demo
	$(BIN)/lifecycle demo

## Lint, type-check and run the whole test suite (Apache Kafka if Java+Maven, else Tansu).
test: setup-dev
	$(BIN)/python .ci/fetch-cdnow
	$(BIN)/python -m streams.dev.brokers prefetch || echo "could not fetch the Kafka jars (see above): without Java 17 and Maven the tests use Tansu"
	$(MAKE) lint
	# The unit tests on every core; the broker tests in one session (they share one broker).
	$(BIN)/python -m pytest tests/unit -n auto
	$(BIN)/python -m pytest --ignore=tests/unit --durations=15

lint: setup-dev
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy lifecycle streams

unit: setup-dev
	$(BIN)/python -m pytest tests/unit

clean:
	rm -rf $(VENV) demo-output .pytest_cache .mypy_cache .ruff_cache
