# learnsolve — set-up-and-go targets.  Everything installs into .venv on first use.
#   make demo   benchmark of the preconditioners on the default problem (< 2 min)
#   make test   the test suite (+ ruff)
#   make petsc  Debian's PETSc + petsc4py and a second venv (.venv-petsc) for the PETSc plug-in
PY ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.learnsolve-installed
SOURCES := pyproject.toml setup.py $(wildcard csrc/*.cpp csrc/cpu/*.h)

.PHONY: install demo test wheel-test petsc petsc-test bench-readme bench-kernels bench-vcycle bench-gpu gpu-wheels bench-petsc bench-petsc-mg bench-fem lint clean

$(STAMP): $(SOURCES)
	test -x $(BIN)/python || $(PY) -m venv $(VENV)
	$(BIN)/python -m pip install -q --upgrade pip
	# a plain `torch` requirement would pull a multi-GB CUDA build: take the CPU 2.13.0 first
	$(BIN)/python -c "import torch" 2>/dev/null || $(BIN)/python -m pip install -q torch==2.13.0
	$(BIN)/python -m pip install -q -e ".[test,bench,fem]"
	$(BIN)/learnsolve info --warmup
	touch $(STAMP)

install: $(STAMP)

demo: $(STAMP)
	$(BIN)/learnsolve bench --out results/demo --budget 5

test: $(STAMP)
	$(BIN)/python -m pytest -q
	$(BIN)/ruff check learnsolve tests benchmarks examples

# the wheel as a user gets it: built in isolation, installed into a fresh venv, smoke-tested there
WHEEL := build/wheel-test
wheel-test:
	rm -rf $(WHEEL) && mkdir -p $(WHEEL)
	$(PY) -m venv $(WHEEL)/venv
	$(WHEEL)/venv/bin/python -m pip install -q --upgrade pip
	$(WHEEL)/venv/bin/python -m pip wheel -q --no-deps -w $(WHEEL)/dist .
	$(WHEEL)/venv/bin/python -m pip install -q torch==2.13.0
	$(WHEEL)/venv/bin/python -m pip install -q $(WHEEL)/dist/learnsolve-*.whl
	cd $(WHEEL) && venv/bin/python $(CURDIR)/tests/smoke_wheel.py

# PETSc: Debian's petsc4py is built for /usr/bin/python3 and NumPy 1.x, so it gets its own venv
# (system site-packages + numpy<2); the C example's embedded interpreter finds it by PYTHONPATH.
PVENV := .venv-petsc
PBIN := $(PVENV)/bin
PSTAMP := $(PVENV)/.learnsolve-installed
PETSC_ENV = PATH=$(CURDIR)/$(PBIN):$$PATH \
	PYTHONPATH=$(CURDIR):$$($(CURDIR)/$(PBIN)/python -c "import site; print(site.getsitepackages()[0])")

$(PSTAMP): $(SOURCES)
	( /usr/bin/python3 -c "import petsc4py, ensurepip" 2>/dev/null && command -v mpiexec >/dev/null \
	  && test -f /usr/lib/petsc/lib/petsc/conf/variables && test -f /usr/include/python3.11/Python.h ) || ( \
	  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends \
	    petsc-dev python3-petsc4py openmpi-bin python3-dev python3-venv make )
	test -x $(PBIN)/python || /usr/bin/python3 -m venv --system-site-packages $(PVENV)
	$(PBIN)/python -m pip install -q --upgrade pip
	$(PBIN)/python -m pip install -q "numpy<2"
	$(PBIN)/python -c "import torch" 2>/dev/null || $(PBIN)/python -m pip install -q torch==2.13.0
	$(PBIN)/python -m pip install -q "numpy<2" -e ".[test]"
	$(MAKE) -C examples/petsc_c diffusion
	touch $(PSTAMP)

petsc: $(PSTAMP)
	@echo "PETSc environment ready: $(PBIN)/python; C example: examples/petsc_c/diffusion"
	@echo 'run it (docs/petsc.md) with PYTHONPATH set to the repository and that venv'"'"'s site-packages:'
	@echo '  mpiexec -n 2 examples/petsc_c/diffusion -ksp_type cg -pc_type python \'
	@echo '    -pc_python_type learnsolve.petsc.PC -learnsolve_pc vcycle-2d'

petsc-test: $(PSTAMP)
	$(MAKE) -s -C examples/petsc_c diffusion
	$(PETSC_ENV) $(PBIN)/python -m pytest -q tests/test_petsc.py tests/test_petsc_mg.py
	$(PETSC_ENV) $(PBIN)/python -c "import learnsolve.petsc"  # serial warm-up of numba's cache
	cd examples/petsc_c && $(PETSC_ENV) mpiexec $$( [ "$$(id -u)" = 0 ] && echo --allow-run-as-root --oversubscribe ) \
	  -n 2 ./diffusion -n 256 -ksp_type cg -ksp_rtol 1e-6 -ksp_norm_type unpreconditioned \
	  -pc_type python -pc_python_type learnsolve.petsc.PC -learnsolve_pc vcycle-2d -ksp_view

bench-readme: $(STAMP)
	$(BIN)/python benchmarks/readme_table.py

bench-kernels: $(STAMP)
	$(BIN)/python benchmarks/kernels.py

bench-vcycle: $(STAMP)
	$(BIN)/python benchmarks/vcycle_scaling.py --maxiter 1000

bench-gpu: $(STAMP)  # on a GPU machine with CuPy
	$(BIN)/python benchmarks/gpu_table.py

# the packages the GPU machine's image lacks, as Python 3.12 wheels for benchmarks/gpu_session.sh
GPU_WHEELS := pyamg==5.4.1 array-api-compat==1.16.0 array-api-strict==2.6.1
gpu-wheels: $(STAMP)
	$(BIN)/python -m pip download -q --no-deps --only-binary=:all: --python-version 3.12 \
	  --implementation cp --platform manylinux_2_28_x86_64 --platform manylinux_2_17_x86_64 \
	  --platform manylinux2014_x86_64 -d .whl $(GPU_WHEELS)
	ls .whl

bench-petsc: $(PSTAMP)
	$(PBIN)/python benchmarks/petsc_table.py

bench-petsc-mg: $(PSTAMP)
	$(PBIN)/python benchmarks/petsc_mg.py

bench-fem: $(STAMP)
	$(BIN)/python examples/fem/diffusion.py

lint: $(STAMP)
	$(BIN)/ruff check learnsolve tests benchmarks examples

clean:
	rm -rf build *.egg-info learnsolve/_C*.so results examples/petsc_c/diffusion examples/petsc_c/*.o
