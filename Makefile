# README's two commands: `make demo` (the main job, end to end) and `make test` (the suite CI runs).
PYTHON ?= python3.11
VENV ?= .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed-$(shell cat setup.py | sha1sum | cut -c1-12)
PYTEST_ARGS ?=

.PHONY: demo test test-fast install clean

$(STAMP): setup.py
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e '.[dev]'
	rm -f $(VENV)/.installed-* && touch $(STAMP)

# The Android demo's pure-Kotlin core is compiled and unit-tested on the host when a Kotlin compiler
# >= 1.6 is around (Debian's is 1.3): the npm registry carries JetBrains' compiler. Best effort: the
# Kotlin tests skip with a reason when it cannot be installed.
KOTLIN_STAMP := $(VENV)/.kotlin-compiler
$(KOTLIN_STAMP): $(STAMP)
	@if command -v npm >/dev/null 2>&1; then \
	  npm ls -g kotlin-compiler >/dev/null 2>&1 || npm install -g --silent kotlin-compiler@2.1.20 \
	  || echo "kotlin-compiler not installed: the Kotlin checks will skip"; \
	else echo "npm not found: the Kotlin checks will skip"; fi
	@touch $@

install: $(STAMP)

demo: $(STAMP)
	$(BIN)/mobilebert demo $(DEMO_ARGS)

# Everything, slow end-to-end tests included (CI runs exactly this).
test: $(STAMP) $(KOTLIN_STAMP)
	$(BIN)/python -m pytest $(PYTEST_ARGS)

# Skip the tests marked slow, for quick iteration.
test-fast: $(STAMP)
	$(BIN)/python -m pytest -m "not slow" $(PYTEST_ARGS)

clean:
	rm -rf $(VENV) runs .pytest_cache build *.egg-info
