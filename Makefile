# Two commands do everything on a fresh machine: `make demo` and `make test`.
# README.md's Quickstart lists the plain commands they run (for machines without make);
# tests/test_readme_commands.py keeps the two the same.
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
SAMPLES ?= samples
STAMP := $(VENV)/.installed
NOTEBOOK_STAMP := $(VENV)/.notebook-installed

.PHONY: install demo demo-data test test-fast notebook bench clean

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --upgrade pip
	$(BIN)/python -m pip install -e '.[test]'
	touch $(STAMP)

install: $(STAMP)

# Samples -> ingest -> train every phase -> the app on http://127.0.0.1:7860
demo: demo-data
	$(BIN)/ocpipe train
	$(BIN)/ocpipe demo --host 127.0.0.1 --port 7860

demo-data: $(STAMP)
	rm -rf $(SAMPLES)
	$(BIN)/ocpipe samples $(SAMPLES)
	$(BIN)/ocpipe ingest $(SAMPLES)
	$(BIN)/ocpipe report

test: $(STAMP)
	$(BIN)/python -m pytest

test-fast: $(STAMP)
	$(BIN)/python -m pytest -m "not slow and not browser"

# The walkthrough notebook in JupyterLab (installs the 'notebook' extra once).
notebook: $(NOTEBOOK_STAMP)
	$(BIN)/jupyter lab docs/walkthrough.ipynb

$(NOTEBOOK_STAMP): $(STAMP)
	$(BIN)/python -m pip install -e '.[notebook]'
	touch $(NOTEBOOK_STAMP)

bench: $(STAMP)
	$(BIN)/python benchmarks/bench_ingest.py
	$(BIN)/python benchmarks/bench_dedupe.py
	$(BIN)/python benchmarks/bench_train.py
	$(BIN)/python benchmarks/bench_quality.py
	$(BIN)/python benchmarks/bench_demo.py
	$(BIN)/python benchmarks/bench_export.py
	$(BIN)/python benchmarks/bench_first_result.py

clean:
	rm -rf $(SAMPLES) data/processed/* models/*/ .pytest_cache docs/walkthrough-workspace
	touch data/processed/.gitkeep
