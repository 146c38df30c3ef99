# Two commands on a fresh machine: `make demo` and `make test`.
# Each creates .venv when missing and installs the project (with dev extras) into it.
PYTHON ?= python3
VENV   ?= .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed

.PHONY: demo test lint bench install clean

$(STAMP): pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --disable-pip-version-check -e '.[dev]'
	touch $(STAMP)

install: $(STAMP)

demo: $(STAMP)
	$(BIN)/toolkit demo

lint: $(STAMP)
	$(BIN)/ruff check toolkit tests benchmarks examples
	$(BIN)/ruff format --check toolkit tests benchmarks examples

test: lint
	$(BIN)/python -m pytest -q

bench: $(STAMP)
	$(BIN)/python benchmarks/run.py

clean:
	rm -rf $(VENV) build *.egg-info reports/*.html reports/*.json
