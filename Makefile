# Set-up and main jobs. `make test` and `make report` work on a fresh machine: they create .venv.
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed
EXTRAS ?= test,compare,bench,dist
export OMP_NUM_THREADS ?= 2

.PHONY: test test-cpu test-cuda lint report bench clean

$(PY):
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip

$(STAMP): pyproject.toml | $(PY)
	$(PY) -m pip install -q -e ".[$(EXTRAS)]"
	touch $(STAMP)

install: $(STAMP)

# CPU tests, then the CUDA path under Numba's simulator in its own process (the simulator must be
# switched on before numba is imported).
test: $(STAMP)
	$(PY) -m pytest -q tests --ignore=tests/cuda
	NUMBA_ENABLE_CUDASIM=1 $(PY) -m pytest -q tests/cuda

lint: $(STAMP)
	$(VENV)/bin/ruff check minigrad lstm bench tests
	$(VENV)/bin/ruff format --check minigrad lstm bench tests

report: $(STAMP)
	$(VENV)/bin/lstm report --preset quick --out report
	@echo "report written to $(CURDIR)/report/index.html"

bench: $(STAMP)
	$(PY) -m bench.compare

clean:
	rm -rf report results .asv .pytest_cache .ruff_cache .hypothesis
