# `make demo` and `make test` set everything up from scratch: a .venv with exactly the tested set of
# packages (requirements.lock, torch as the local CPU wheel), ctxembed itself, and the Debian packages
# the benchmarks read (man-pages, WordNet). `make lock` regenerates the lock; `make check-latest` tries
# the newest releases that pyproject.toml allows without touching the lock.
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.ctxembed-installed
LOCK := requirements.lock
SYSTEM_PACKAGES := manpages manpages-dev groff-base man-db wordnet-base wordnet-sense-index python3-doc chromium chromium-driver
export HF_HUB_OFFLINE := 1
export TRANSFORMERS_OFFLINE := 1
export HF_DATASETS_OFFLINE := 1
export TOKENIZERS_PARALLELISM := false
export PIP_DISABLE_PIP_VERSION_CHECK := 1

.PHONY: setup system-deps data demo serve test test-fast lint lock check-latest wheel-check gpu-bundle clean

setup: $(STAMP) system-deps

# The lock is installed as it is (--no-deps: no resolver, nothing newer sneaks in), then ctxembed on
# top of it; `verify` fails if anything differs from the lock. uv (itself pinned in the lock) installs
# in seconds where pip takes minutes; pip does the same job if uv cannot be had. On these machines
# torch comes from the local CPU wheel in PIP_FIND_LINKS, which uv reads as UV_FIND_LINKS.
export UV_FIND_LINKS ?= $(PIP_FIND_LINKS)
$(STAMP): pyproject.toml $(LOCK)
	rm -rf $(VENV)
	$(PYTHON) -m venv $(VENV)
	@if $(BIN)/python -m pip install -q "$$(grep '^uv==' $(LOCK))"; then \
	  $(BIN)/uv pip install -q --python $(BIN)/python --no-deps -r $(LOCK) && \
	  $(BIN)/uv pip install -q --python $(BIN)/python --no-deps --no-build-isolation -e .; \
	else \
	  echo "uv is not available: installing with pip (slower)"; \
	  $(BIN)/python -m pip install -q --no-deps -r $(LOCK) && \
	  $(BIN)/python -m pip install -q --no-deps --no-build-isolation -e .; \
	fi
	$(BIN)/python scripts/lock_env.py verify $(VENV)
	touch $(STAMP)

lock:
	$(PYTHON) scripts/lock_env.py lock

check-latest:
	$(PYTHON) scripts/lock_env.py latest
	-$(PYTHON) scripts/lock_env.py latest --uncapped

# The built wheel, installed alone into a clean venv (no checkout on its path), indexes and searches.
wheel-check: setup
	$(BIN)/python scripts/wheel_check.py

# The upload set for the prepared GPU check (scripts/gpu_check.py); docs/gpu-check.md says how to run it.
gpu-bundle: setup data/manpages/corpus.jsonl
	$(BIN)/python scripts/gpu_bundle.py

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
data: setup data/manpages/corpus.jsonl data/debian/corpus.jsonl data/debian-train-pairs.jsonl data/pyfaq/corpus.jsonl \
  data/pydocs/corpus.jsonl

data/manpages/corpus.jsonl:
	$(BIN)/python scripts/build_manpages.py --out data/manpages --overwrite

data/debian/corpus.jsonl:
	@ls /var/lib/apt/lists/*Translation-en* >/dev/null 2>&1 || { \
	  if [ "$$(id -u)" = 0 ]; then apt-get update -qq -o Acquire::Languages=en; \
	  else echo "run: sudo apt-get update -o Acquire::Languages=en"; exit 1; fi; }
	$(BIN)/python scripts/build_debian.py --out data/debian --overwrite

# Python's FAQ: natural-language questions against prose answers (python3-doc), the hybrid defaults' third domain.
data/pyfaq/corpus.jsonl:
	$(BIN)/python scripts/build_pyfaq.py --out data/pyfaq --overwrite

# Long documents: whole Python documentation pages against their sections' headings (python3-doc).
data/pydocs/corpus.jsonl:
	$(BIN)/python scripts/build_pyfaq.py --set pydocs --out data/pydocs --overwrite

# ~1,200 labelled (query, passage) pairs from the Debian train split, for configs/contextual-pairs.yaml.
data/debian-train-pairs.jsonl: data/debian/corpus.jsonl
	$(BIN)/python scripts/export_pairs.py --dataset data/debian --split train --out $@

demo: setup data
	$(BIN)/ctxembed demo --config configs/demo.yaml --out runs/demo --overwrite
	$(BIN)/ctxembed finetune --config configs/static-demo.yaml --overwrite
	$(BIN)/ctxembed distill --config configs/distill-demo.yaml --overwrite
	$(BIN)/ctxembed evaluate --config configs/evaluate-demo.yaml --overwrite

# The service on the demo's indexes (built first if missing): http://127.0.0.1:8000/ ; Ctrl-C stops it.
serve: setup
	@test -f runs/demo/contextual/manifest.json || \
	  $(BIN)/ctxembed demo --config configs/demo.yaml --out runs/demo --overwrite
	$(BIN)/ctxembed serve runs/demo/static runs/demo/contextual

test: setup
	$(BIN)/python -m pytest -q

test-fast: setup
	$(BIN)/python -m pytest -q -m "not slow"

lint: setup
	$(BIN)/ruff check ctxembed tests scripts
	$(BIN)/ruff format --check ctxembed tests scripts

clean:
	rm -rf $(VENV) runs data .pytest_cache build .gpu-bundle
