# Set-up and main jobs. `make test` and `make report` work on a fresh machine: they create .venv.
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
# What each job installs: the tests need everything; the report needs the peers it times
# (torch, JAX, autograd) and the applications' data (apps), so a fresh `make report` installs less.
TEST_EXTRAS ?= test,compare,bench,dist,apps,onnx
REPORT_EXTRAS ?= compare,apps
# pytest-xdist workers for make test (the machine's 2 cores; TEST_WORKERS=0 runs in one process)
TEST_WORKERS ?= 2
export OMP_NUM_THREADS ?= 2

.PHONY: test test-cpu test-cuda lint report bench bench-check clean install gpu-check

$(PY):
	@echo "make: creating $(VENV)"
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip

# One stamp per set of extras: `make report` then `make test` installs what the tests add.
$(VENV)/.installed-%: pyproject.toml | $(PY)
	@echo "make: installing minigrad-lstm[$*] into $(VENV) (a few minutes the first time)"
	$(PY) -m pip install -e ".[$*]"
	touch $@

TEST_STAMP := $(VENV)/.installed-$(TEST_EXTRAS)
REPORT_STAMP := $(VENV)/.installed-$(REPORT_EXTRAS)

install: $(TEST_STAMP)

# CPU tests, then the CUDA path under Numba's simulator in its own process (the simulator must be
# switched on before numba is imported), then the asv suite's check.
test: $(TEST_STAMP)
	$(VENV)/bin/ruff check minigrad lstm bench tests
	$(PY) -m pytest -q -n $(TEST_WORKERS) tests --ignore=tests/cuda
	NUMBA_ENABLE_CUDASIM=1 $(PY) -m pytest -q -n $(TEST_WORKERS) tests/cuda
	$(MAKE) --no-print-directory bench-check

# The asv suite (bench/) passes `asv check` and a quick dry run of one case of each kind of
# benchmark runs in this environment (nothing is saved): about a minute. docs/benchmarks.md, "asv".
BENCH_CHECK := --bench "Recurrent.*\('rnn', 'fused', 16\)" \
	--bench "Peers.*\('autograd', 'rnn', 16\)" \
	--bench "TracedStepMemory.*\('rnn', 'fused', 64\)" \
	--bench "StepPeakRSS.*\('rnn', 'fused', 256\)" \
	--bench "ImportAndFirstCall.*\('engine', 'warm'\)"
bench-check: $(TEST_STAMP)
	$(VENV)/bin/asv machine --yes > /dev/null
	$(VENV)/bin/asv check -E existing:$(CURDIR)/$(PY)
	$(VENV)/bin/asv run -E existing:$(CURDIR)/$(PY) --quick --dry-run --show-stderr \
		$(BENCH_CHECK) < /dev/null

lint: $(TEST_STAMP)
	$(VENV)/bin/ruff check minigrad lstm bench tests

report: $(REPORT_STAMP)
	@echo "make: running the quick experiments and the speed sweep (lstm report --preset quick)"
	$(VENV)/bin/lstm report --preset quick --out report
	@echo "report written to $(CURDIR)/report/index.html"

bench: $(TEST_STAMP)
	$(PY) -m bench.compare

# On a real GPU (never the simulator): the CUDA tests and bench/gpu_lstm.py (generated kernels vs
# torch's cuDNN LSTM) in under 5 minutes, one summary line; without a GPU it says so, exit 0.
gpu-check: $(TEST_STAMP)
	env -u NUMBA_ENABLE_CUDASIM $(PY) -m bench.gpu_check

clean:
	rm -rf report results .asv .pytest_cache .ruff_cache .hypothesis
