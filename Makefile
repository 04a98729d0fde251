# README's two commands: `make demo` (the main job, end to end) and `make test` (the suite CI runs).
PYTHON ?= python3.11
VENV ?= .venv
BIN := $(VENV)/bin
SETUP_HASH := $(shell cat setup.py | sha1sum | cut -c1-12)
# `make demo` installs the package alone; `make test` adds the dev extra (pytest, ruff, torch, ...).
STAMP := $(VENV)/.installed-$(SETUP_HASH)
DEV_STAMP := $(VENV)/.installed-dev-$(SETUP_HASH)

$(STAMP): setup.py
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e .
	find $(VENV) -maxdepth 1 -name '.installed-*' ! -name '.installed-dev-*' ! -name '.installed-$(SETUP_HASH)' -delete
	touch $(STAMP)

$(DEV_STAMP): $(STAMP)
	$(BIN)/pip install --quiet -e '.[dev]'
	find $(VENV) -maxdepth 1 -name '.installed-dev-*' ! -name '.installed-dev-$(SETUP_HASH)' -delete
	touch $(DEV_STAMP)

# Tools the tests need beyond the venv (a skipped test of these fails under CI=true, tests/conftest.py).
# Each target leaves its stamp only after a successful install, so a failed one is retried next time.
# - Debian packages: chromium (browser test), junit4 + hamcrest (the Kotlin core's JUnit tests), libusb
#   (tflite-support's native library).
APT_PACKAGES := chromium junit4 libhamcrest-java libusb-1.0-0
APT_STAMP := $(VENV)/.apt-tools
$(APT_STAMP):
	@mkdir -p $(VENV)
	@if dpkg -s $(APT_PACKAGES) >/dev/null 2>&1; then :; else \
	  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq $(APT_PACKAGES); fi
	touch $@

# - JetBrains' Kotlin compiler >= 1.6 (Debian's is 1.3) from npm, pinned.
KOTLIN_VERSION := 2.1.20
KOTLIN_STAMP := $(VENV)/.kotlin-compiler-$(KOTLIN_VERSION)
$(KOTLIN_STAMP):
	@mkdir -p $(VENV)
	npm ls -g kotlin-compiler@$(KOTLIN_VERSION) >/dev/null 2>&1 || npm install -g --silent kotlin-compiler@$(KOTLIN_VERSION)
	touch $@

# - The runtime clients' venv: tflite-support pins protobuf 3.20, which TensorFlow 2.21 cannot share.
CLIENTS_VENV := .venv-clients
CLIENTS_PACKAGES := tflite-support==0.4.4 mediapipe==1.2.3
CLIENTS_STAMP := $(CLIENTS_VENV)/.installed-$(shell echo '$(CLIENTS_PACKAGES)' | sha1sum | cut -c1-12)
$(CLIENTS_STAMP): $(APT_STAMP)
	test -x $(CLIENTS_VENV)/bin/python || $(PYTHON) -m venv $(CLIENTS_VENV)
	$(CLIENTS_VENV)/bin/pip install --quiet $(CLIENTS_PACKAGES)
	rm -f $(CLIENTS_VENV)/.installed-* && touch $@

# - The web demo's LiteRT.js and the browser test's puppeteer-core, pinned in web_demo/package-lock.json.
WEB_STAMP := web_demo/node_modules/.installed-$(shell cat web_demo/package-lock.json | sha1sum | cut -c1-12)
$(WEB_STAMP): web_demo/package-lock.json
	cd web_demo && npm ci --no-audit --no-fund --silent
	rm -f web_demo/node_modules/.installed-* && touch $@

tools: $(APT_STAMP) $(KOTLIN_STAMP) $(CLIENTS_STAMP) $(WEB_STAMP)
clients-venv: $(CLIENTS_STAMP)
web-deps: $(WEB_STAMP)

install: $(DEV_STAMP)

demo: $(STAMP)
	$(BIN)/mobilebert demo $(DEMO_ARGS)

# Everything, slow end-to-end tests included (CI runs exactly this).
test: $(DEV_STAMP) tools
	$(BIN)/python -m pytest $(PYTEST_ARGS)

# ruff alone (tests/test_architecture.py runs it too, with the import-graph checks).
lint: $(DEV_STAMP)
	$(BIN)/ruff check .

# Skip the tests marked slow, for quick iteration.
test-fast: $(DEV_STAMP)
	$(BIN)/python -m pytest -m "not slow" $(PYTEST_ARGS)

clean:
	rm -rf $(VENV) $(CLIENTS_VENV) web_demo/node_modules runs .pytest_cache build *.egg-info
