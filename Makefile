# mlx-sparse entry points: `make demo` and `make test` each set up a virtual environment and build first.
PY ?= python3
VENV ?= .venv
VPY := $(VENV)/bin/python
JOBS ?= $(shell nproc 2>/dev/null || echo 2)
# MLX's CUDA backend where an NVIDIA GPU and driver answer, its CPU backend elsewhere
MLX_EXTRA ?= $(shell nvidia-smi -L >/dev/null 2>&1 && echo cuda13 || echo cpu)
# CUDA kernels: every module where a GPU can run them; without a GPU (CI) nvcc, when present, only
# compiles each kernel once to catch errors (MSP_CUDA=CHECK), which keeps the build short
MSP_CUDA ?= $(if $(filter cuda13,$(MLX_EXTRA)),AUTO,CHECK)

FUZZ_SECONDS ?= 15

.PHONY: demo test install ctest tsan fuzz pytest bench clean

$(VENV)/.ready: pyproject.toml Makefile
	$(PY) -m venv $(VENV)
	$(VPY) -m pip install -q --upgrade pip
	$(VPY) -m pip install -q "mlx[$(MLX_EXTRA)]>=0.32,<0.33" numpy scipy pytest hypothesis \
		"nanobind>=3,<4" "scikit-build-core>=0.10" cmake ninja
	touch $@

install: $(VENV)/.ready
	CMAKE_BUILD_PARALLEL_LEVEL=$(JOBS) $(VPY) -m pip install -q --no-build-isolation --no-deps -C cmake.define.MSP_CUDA=$(MSP_CUDA) .

demo: install
	cd examples && ../$(VPY) demo.py

# C kernel tests (plain, with ASan+UBSan, with TSan), every kernel family fuzzed, then pytest (and the
# GPU suite when a GPU is usable)
test: ctest tsan fuzz pytest

ctest: $(VENV)/.ready
	PATH=$(CURDIR)/$(VENV)/bin:$$PATH cmake -S . -B build/c -DMSP_CUDA=OFF > /dev/null
	PATH=$(CURDIR)/$(VENV)/bin:$$PATH cmake --build build/c -j $(JOBS) > /dev/null
	PATH=$(CURDIR)/$(VENV)/bin:$$PATH cmake -S . -B build/asan -DMSP_CUDA=OFF -DMSP_SANITIZE=ON -DCMAKE_BUILD_TYPE=Debug > /dev/null
	PATH=$(CURDIR)/$(VENV)/bin:$$PATH cmake --build build/asan -j $(JOBS) > /dev/null
	@echo "C kernel tests (ASan+UBSan):" && cd build/asan && MSP_SKIP_BIG_TESTS=1 ASAN_OPTIONS=detect_leaks=1 PATH=$(CURDIR)/$(VENV)/bin:$$PATH ctest -j $(JOBS) --output-on-failure | tail -3
	@echo "C kernel tests:" && cd build/c && PATH=$(CURDIR)/$(VENV)/bin:$$PATH ctest -j $(JOBS) --output-on-failure

# the C tests under ThreadSanitizer with 4 OpenMP threads (clang and LLVM's OpenMP, which TSan understands
# through its Archer tool)
tsan: $(VENV)/.ready
	@command -v clang > /dev/null || { echo "tsan: skipped, needs clang and libomp-dev (apt-get install clang libomp-dev)"; \
		test -z "$(MSP_REQUIRE_CLANG)"; exit; }
	PATH=$(CURDIR)/$(VENV)/bin:$$PATH cmake -S . -B build/tsan -DCMAKE_C_COMPILER=clang -DCMAKE_CXX_COMPILER=clang++ \
		-DMSP_CUDA=OFF -DMSP_SANITIZE=thread -DMSP_SUITESPARSE=OFF -DCMAKE_BUILD_TYPE=RelWithDebInfo > /dev/null
	PATH=$(CURDIR)/$(VENV)/bin:$$PATH cmake --build build/tsan -j $(JOBS) > /dev/null
	@echo "C kernel tests (TSan, 4 threads):" && cd build/tsan && MSP_SKIP_BIG_TESTS=1 OMP_NUM_THREADS=4 \
		OMP_TOOL_LIBRARIES=$$(clang -print-resource-dir)/../../libarcher.so \
		TSAN_OPTIONS="halt_on_error=1 ignore_noninstrumented_modules=1" \
		PATH=$(CURDIR)/$(VENV)/bin:$$PATH ctest -j 1 --output-on-failure | tail -3

# every C kernel family through its libFuzzer harness, FUZZ_SECONDS each (tests/fuzz/); without clang
# both are skipped with a note (MSP_REQUIRE_CLANG=1, as CI sets, makes that an error)
fuzz: $(VENV)/.ready
	MSP_REQUIRE_CLANG=$(MSP_REQUIRE_CLANG) PATH=$(CURDIR)/$(VENV)/bin:$$PATH bash tests/fuzz/run.sh $(FUZZ_SECONDS)

pytest: install
	@if $(VPY) -c "import mlx_sparse as ms, sys; sys.exit(0 if ms.gpu_available() else 1)" 2>/dev/null; then \
		cd tests && ../$(VPY) -m pytest -q -m gpu; fi
	cd tests && ../$(VPY) -m pytest -q

# the CPU peers of the benchmarks (optional: a missing peer prints n/a): MKL, GraphBLAS, pyamg
bench: install
	-$(VPY) -m pip install -q sparse_dot_mkl mkl python-graphblas pyamg
	$(VPY) bench/spmv.py

clean:
	rm -rf build $(VENV)
