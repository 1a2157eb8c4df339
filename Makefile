# The user-facing commands. `make test` is also what CI runs (.ci/run).
BUILD      ?= build
BUILD_TYPE ?= Release
JOBS       ?= $(shell nproc)
CTEST_ARGS ?=

.PHONY: all deps configure build test run clean format bench

all: build

deps:
	@bash deploy/install-deps.sh

configure:
	@cmake -S . -B $(BUILD) -DCMAKE_BUILD_TYPE=$(BUILD_TYPE) >/dev/null

build: configure
	@cmake --build $(BUILD) -j$(JOBS)

test:
	@$(MAKE) --no-print-directory deps
	@$(MAKE) --no-print-directory build
	@cd $(BUILD) && ctest --output-on-failure $(CTEST_ARGS)

run: build
	@if [ -z "$$KUBECONFIG" ]; then \
	  echo "make run: set KUBECONFIG (the local network-namespace cluster comes with the dev-cluster issue)" >&2; \
	  exit 2; \
	fi
	$(BUILD)/kube-chorus-router --kubeconfig "$$KUBECONFIG" $(ARGS)

# Benchmarks (not part of `make test`): the real binary against the fake API
# server; prints one table and rewrites its block in docs/benchmarks.md.
bench: configure
	@cmake --build $(BUILD) -j$(JOBS) --target kube-chorus-router kcr_netlink_bench
	@python3 test/bench/bench.py --build $(BUILD) $(BENCH_ARGS)

format:
	@git ls-files '*.cpp' '*.hpp' | xargs clang-format -i

clean:
	@rm -rf $(BUILD)
