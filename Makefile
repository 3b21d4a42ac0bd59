# learnsolve — set-up-and-go targets.  Everything installs into .venv on first use.
#   make demo   benchmark of the preconditioners on the default problem (< 2 min)
#   make test   the test suite (+ ruff)
PY ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.learnsolve-installed
SOURCES := pyproject.toml setup.py $(wildcard csrc/*.cpp csrc/cpu/*.h)

.PHONY: install demo test bench-readme bench-kernels bench-vcycle lint clean

$(STAMP): $(SOURCES)
	test -x $(BIN)/python || $(PY) -m venv $(VENV)
	$(BIN)/python -m pip install -q --upgrade pip
	# a plain `torch` requirement would pull a multi-GB CUDA build: take the CPU 2.13.0 first
	$(BIN)/python -c "import torch" 2>/dev/null || $(BIN)/python -m pip install -q torch==2.13.0
	$(BIN)/python -m pip install -q -e ".[test,bench]"
	$(BIN)/learnsolve info
	touch $(STAMP)

install: $(STAMP)

demo: $(STAMP)
	$(BIN)/learnsolve bench --out results/demo

test: $(STAMP)
	$(BIN)/python -m pytest -q
	$(BIN)/ruff check learnsolve tests benchmarks

bench-readme: $(STAMP)
	$(BIN)/python benchmarks/readme_table.py

bench-kernels: $(STAMP)
	$(BIN)/python benchmarks/kernels.py

bench-vcycle: $(STAMP)
	$(BIN)/python benchmarks/vcycle_scaling.py --maxiter 1000

lint: $(STAMP)
	$(BIN)/ruff check learnsolve tests benchmarks

clean:
	rm -rf build *.egg-info learnsolve/_C*.so results
