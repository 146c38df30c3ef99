# Two commands on a fresh machine: `make demo` and `make test`.
# Each creates .venv when missing and installs the project (with dev extras) into it.
PYTHON ?= python3
VENV   ?= .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed

.PHONY: demo test lint bench install clean browser screenshot

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

# Debian's chromium for the browser test of the report (no browser download by a test tool).
browser:
	@command -v chromium >/dev/null 2>&1 || { \
	  echo "installing Debian's chromium for the browser test"; \
	  DEBIAN_FRONTEND=noninteractive apt-get update -q && \
	  DEBIAN_FRONTEND=noninteractive apt-get install -y -q chromium; }

test: lint browser
	TOOLKIT_REQUIRE_BROWSER=1 $(BIN)/python -m pytest -q

# The README's picture of the demo report's first screen (1400 x 900), from the browser test.
screenshot: $(STAMP) browser
	TOOLKIT_REQUIRE_BROWSER=1 $(BIN)/python -m pytest -q tests/test_browser.py -k demo_report -s
	cp reports/first-screen.png docs/first-screen.png

bench: $(STAMP)
	$(BIN)/python benchmarks/run.py

clean:
	rm -rf $(VENV) build *.egg-info reports/*.html reports/*.json
