# The two README commands. Each sets up its own venv on a fresh machine.
PY ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: demo test lint typecheck pytest docs clean

$(BIN)/python:
	$(PY) -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip 'setuptools>=77' wheel

BUILD_LAYER := src/ossl_handshake/_build
BUILD_INPUTS := $(wildcard $(BUILD_LAYER)/*.py $(BUILD_LAYER)/*.h $(BUILD_LAYER)/cdef/*.h \
	$(BUILD_LAYER)/glue/*.c $(BUILD_LAYER)/glue/*.h)

$(STAMP): $(BIN)/python pyproject.toml setup.py ossl_build.py $(BUILD_INPUTS)
	$(BIN)/pip install -q -e '.[test]'
	touch $(STAMP)

# Rebuild the C module whenever the cdef or the glue changed.
build: $(STAMP)

demo: $(STAMP)
	$(BIN)/ossl-handshake demo $(ARGS)

lint: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/lint-imports

typecheck: $(STAMP)
	$(BIN)/mypy --strict src

pytest: $(STAMP)
	$(BIN)/python -m pytest $(PYTEST_ARGS)

test: lint typecheck pytest

# The documentation site (mkdocs.yml) into site/. mkdocstrings imports the
# package for the API reference, so it needs the built extension ($(STAMP));
# the docs tools are the optional group `docs` in pyproject.toml.
DOCS_STAMP := $(VENV)/.docs-installed
$(DOCS_STAMP): $(STAMP) pyproject.toml
	$(BIN)/pip install -q -e '.[test,docs]'
	touch $(DOCS_STAMP)

docs: $(DOCS_STAMP)
	$(BIN)/mkdocs build --strict --site-dir site

# ASan+UBSan build of the C extension in its own venv (.venv-asan), then the
# lifecycle/thread/hostile-caller/callback tests against it; see the script.
.PHONY: sanitize
sanitize:
	PY=$(PY) bash scripts/sanitize.sh $(SANITIZE_ARGS)

# The whole suite against each OpenSSL (1.1.1, 3.0, 3.5, 3.6, 4.0; the system's
# own series is used as is, the others are built from Debian's source packages
# into $(OSSL_CACHE), default /var/cache/ossl-handshake, and reused): one venv
# per version (.venv-openssl-<V>). `make test-openssl V=4.0` runs one.
# OpenSSL builds alone: `make openssl-build V=3.6` (V=all by default).
.PHONY: test-openssl openssl-build
V ?= all
test-openssl:
	PY=$(PY) bash scripts/test-openssl.sh $(V) $(if $(PYTEST_ARGS),-- $(PYTEST_ARGS))

openssl-build:
	bash scripts/openssl-build.sh $(V)

clean:
	rm -rf build dist site *.egg-info src/*.egg-info src/ossl_handshake/_ossl*.so
