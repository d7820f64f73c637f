# Two commands set everything up on a fresh machine:
#   make demo   creates .venv, installs clausewise, checks the shipped policies and makes a decision
#   make test   creates .venv, installs clausewise with its test tools, runs lint, types and tests
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed

.PHONY: demo test lint docs bench bench-serve soak tables fuzz clean

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e '.[dev]'
	touch $(STAMP)

demo: $(STAMP)
	$(BIN)/clausewise check policies
	$(BIN)/clausewise eval promotions/amazon-ads-click-credit-q4-2022 --input examples/amazon-click-credit.json
	$(BIN)/clausewise explain promotions/amazon-ads-click-credit-q4-2022 --input examples/amazon-click-credit.json --why-not credits
	$(BIN)/clausewise test policies --coverage
	$(BIN)/clausewise terms promotions/amazon-ads-click-credit-q4-2022

lint: $(STAMP)
	$(BIN)/ruff check clausewise
	$(BIN)/ruff format --check clausewise
	$(BIN)/mypy

test: lint
	HYPOTHESIS_PROFILE=$${HYPOTHESIS_PROFILE:-ci} $(BIN)/pytest

# the generated parts of docs/: the diagnostic codes and the table of built-in functions, from
# their catalogues (clausewise/dsl/codes.py, clausewise/dsl/functions.py)
docs: $(STAMP)
	$(BIN)/python -c 'from clausewise.dsl.docgen import write_docs; write_docs("docs")'

bench: $(STAMP)
	$(BIN)/pip install --quiet -e '.[dev,bench]'
	$(BIN)/python bench/run.py

# grammar-aware and mutation fuzzing of parse, fmt, check, evaluate and the engine against the
# reference interpreter; failures are saved under tests/fuzz/regressions/ (replayed by the tests)
FUZZ_SECONDS ?= 600
fuzz: $(STAMP)
	$(BIN)/python -m tests.fuzz --seconds $(FUZZ_SECONDS)

# the decision service over HTTP with wrk (Debian package), durable log on and off, beside the
# same decisions in-process
bench-serve: $(STAMP)
	command -v wrk >/dev/null || apt-get install -y wrk || (apt-get update && apt-get install -y wrk)
	$(BIN)/python bench/serve.py

# the service's fault tests, longer than in the suite: 100 SIGKILLs under load, 1000 reloads
# alternating valid and broken sets under load, more schemathesis examples
soak: $(STAMP)
	CLAUSEWISE_KILL_ROUNDS=100 CLAUSEWISE_RELOADS=1000 CLAUSEWISE_SCHEMATHESIS_EXAMPLES=50 \
		$(BIN)/pytest tests/server/test_server_faults.py tests/server/test_server_reload.py \
		tests/server/test_server_openapi.py

# after a change to the grammar (or to the lark version tested with): the parser tables shipped
# in the package, which a fresh machine loads instead of building them
tables: $(STAMP)
	$(BIN)/python -c 'from clausewise.dsl.parser import write_shipped_tables; write_shipped_tables()'

clean:
	rm -rf $(VENV) build *.egg-info
