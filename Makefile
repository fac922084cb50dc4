# Two commands for a fresh machine: `make demo` and `make test`. Each builds the
# environment it needs (once) and reuses it afterwards.
PYTHON ?= python3
VENV ?= .venv
REF_VENV ?= .venv-ref
PY := $(VENV)/bin/python
REF_PY := $(REF_VENV)/bin/python
DEMO_DIR ?= runs/demo

.PHONY: demo test test-fast lint refenv env clean

env: $(VENV)/.installed

$(VENV)/.installed: pyproject.toml
	@echo "==> creating $(VENV) and installing clarinet_ddsp (first run only: a few minutes)"
	$(PYTHON) -m venv $(VENV)
	$(VENV)/bin/pip install --progress-bar on --upgrade pip
	$(VENV)/bin/pip install --progress-bar on -e '.[test,dask]'
	@touch $@

# The magenta/ddsp 3.7.0 reference, for the parity tier only (never imported by the package).
refenv: $(REF_VENV)/.installed

$(REF_VENV)/.installed: tests/parity/reference_requirements.txt
	@echo "==> creating $(REF_VENV) with magenta/ddsp 3.7.0 for the parity tests"
	$(PYTHON) -m venv $(REF_VENV)
	$(REF_VENV)/bin/pip install --progress-bar on --upgrade pip
	$(REF_VENV)/bin/pip install --progress-bar on -r tests/parity/reference_requirements.txt
	$(REF_VENV)/bin/pip install --progress-bar on --no-deps ddsp==3.7.0
	@touch $@

test: env refenv
	CLARINET_DDSP_REF_PYTHON=$(abspath $(REF_PY)) $(PY) -m pytest -ra tests

lint: env
	$(VENV)/bin/ruff check clarinet_ddsp tests scripts
	$(VENV)/bin/ruff format --check clarinet_ddsp tests scripts
	$(VENV)/bin/mypy

test-fast: env
	$(PY) -m pytest -ra -m "not slow and not parity" tests

demo: env
	$(PY) scripts/demo.py --work_dir $(DEMO_DIR)

clean:
	rm -rf $(VENV) $(REF_VENV) runs
