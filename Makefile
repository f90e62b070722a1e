# Portal Platform — the commands a newcomer needs: `make run` and `make test`.
PYTHON ?= python3
UV_VERSION := 0.13.9
TOOLS := .tools
UV := $(TOOLS)/bin/uv
VENV := .venv
PORT ?= 8000
DATA_DIR ?= var
PYTEST_WORKERS ?= auto

.PHONY: install run test check fmt bench clean

$(UV):
	@$(PYTHON) -c 'import sys; assert sys.version_info >= (3, 11), "Python 3.11+ is needed"' \
		|| { echo "Python 3.11 or newer is needed (Debian: apt-get install python3)"; exit 1; }
	@$(PYTHON) -m venv $(TOOLS) \
		|| { echo "Cannot create a virtualenv: on Debian run 'apt-get install python3-venv'"; exit 1; }
	$(TOOLS)/bin/pip install --quiet --disable-pip-version-check uv==$(UV_VERSION)

$(VENV)/.installed: pyproject.toml uv.lock | $(UV)
	$(UV) sync --frozen --python $(PYTHON)
	@touch $@

install: $(VENV)/.installed  ## create the virtualenv and install the locked dependencies

run: install  ## the whole platform on embedded defaults, with demo data, on :8000
	$(VENV)/bin/portal dev --port $(PORT) --data-dir $(DATA_DIR)

test: install  ## the whole suite, PostgreSQL tests included (never skipped)
	$(VENV)/bin/pytest -n $(PYTEST_WORKERS) --dist loadfile -p no:cacheprovider

check: install  ## lint, format check, strict typing, service independence
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .
	$(VENV)/bin/mypy
	$(VENV)/bin/lint-imports

fmt: install
	$(VENV)/bin/ruff format .
	$(VENV)/bin/ruff check --fix .

clean:
	rm -rf $(VENV) $(TOOLS) .mypy_cache .ruff_cache
