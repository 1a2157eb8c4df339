# The user-facing commands. `make test` is also what CI runs (.ci/run).
BUILD      ?= build
BUILD_TYPE ?= Release
JOBS       ?= $(shell nproc)
CTEST_ARGS ?=

.PHONY: all deps configure build controlplane test run clean format bench image image-runtime image-test fault-campaign \
        test-asan test-tsan fuzz

all: build

deps:
	@bash deploy/install-deps.sh

configure:
	@cmake -S . -B $(BUILD) -DCMAKE_BUILD_TYPE=$(BUILD_TYPE) >/dev/null

build: configure
	@cmake --build $(BUILD) -j$(JOBS)

# The real control plane (etcd, kube-apiserver, kubectl of the Kubernetes
# release pinned in test/controlplane/go.mod) and helm (test/helm/go.mod, for
# the chart's test), built once into $(BUILD).
controlplane:
	@bash test/controlplane/build.sh $(BUILD)/controlplane/bin
	@bash test/helm/build.sh $(BUILD)/controlplane/bin

test:
	@$(MAKE) --no-print-directory deps
	@$(MAKE) --no-print-directory controlplane
	@$(MAKE) --no-print-directory build
	@$(MAKE) --no-print-directory image-runtime
	@cd $(BUILD) && ctest --output-on-failure $(CTEST_ARGS)
	@bash test/sanitizers/run.sh asan build-asan $(abspath $(BUILD))/controlplane/bin $(CI_ASAN_ARGS)
	@$(MAKE) --no-print-directory fuzz FUZZ_SECONDS=$(CI_FUZZ_SECONDS)

# make run: with KUBECONFIG, the controller against that cluster (flags in ARGS);
# without, the local dev cluster of network namespaces (deploy/devcluster, root:
# sudo when needed; NODES=3) on the real control plane (etcd + kube-apiserver,
# built first by `make controlplane` when missing; API=fake: the fake API
# server, up in seconds): admin KUBECONFIG, ConfigMap, reachability table, live
# node changes until Ctrl-C, then everything is removed. SHAPE=split: one
# controller (--run-tunnel=false) + an agent per node (--run-publisher=false), as
# deploy/kubernetes installs it; combined: every node instance both roles; auto
# (default): split when the binary has the annotation-based agent.
NODES ?= 3
API   ?= real
SHAPE ?= auto
run:
	@if [ -n "$$KUBECONFIG" ]; then \
	  $(MAKE) --no-print-directory build || exit $$?; \
	  echo '$(BUILD)/kube-chorus-router --kubeconfig "$$KUBECONFIG" $(ARGS)'; \
	  exec $(BUILD)/kube-chorus-router --kubeconfig "$$KUBECONFIG" $(ARGS); \
	fi; \
	case "$(API)" in real|fake) ;; *) echo "make run: API=$(API): expected real or fake" >&2; exit 2;; esac; \
	$(MAKE) --no-print-directory deps || exit $$?; \
	if [ "$(API)" = real ]; then $(MAKE) --no-print-directory controlplane || exit $$?; fi; \
	$(MAKE) --no-print-directory build || exit $$?; \
	if [ "$$(id -u)" -eq 0 ]; then sudo=; else sudo=sudo; fi; \
	exec $$sudo env KCR_BINARY_DIR=$(BUILD) python3 deploy/devcluster/devcluster.py run \
	  --binary $(BUILD)/kube-chorus-router --nodes $(NODES) --api $(API) --shape $(SHAPE)

# The fault campaign (test/fault/campaign.py; root; docs/reliability.md): FAULTS
# randomized faults (kill -9, SIGSTOP of the leader past its Lease, etcd and
# kube-apiserver restarts, partitions, tunnel deleted or changed, the ConfigMap
# edited by hand) with node churn on the dev cluster and the real control plane,
# invariants checked on every ConfigMap revision; SEED repeats a run (default:
# random, printed); API=fake: the fake API server (watch drops, 500/429, slow
# answers). `make test` runs a short one (ctest -L fault).
FAULTS ?= 1000
SEED   ?=
fault-campaign: configure
	@if [ "$(API)" = real ]; then $(MAKE) --no-print-directory controlplane || exit $$?; fi
	@cmake --build $(BUILD) -j$(JOBS) --target kube-chorus-router
	@if [ "$$(id -u)" -eq 0 ]; then sudo=; else sudo=sudo; fi; \
	  $$sudo env KCR_BINARY_DIR=$(BUILD) python3 test/fault/campaign.py \
	  --binary $(BUILD)/kube-chorus-router --api $(API) --faults $(FAULTS) \
	  $(if $(SEED),--seed $(SEED)) --json $(BUILD)/fault-campaign-$(API).json

# Benchmarks (not part of `make test`): the real binary against the real
# kube-apiserver + etcd (BENCH_ARGS=--api fake: the fake API server); prints one
# table and rewrites its block in docs/benchmarks.md.
bench: configure controlplane
	@cmake --build $(BUILD) -j$(JOBS) --target kube-chorus-router kcr_netlink_bench
	@python3 test/bench/bench.py --build $(BUILD) $(BENCH_ARGS)

# The container image without a Docker engine (buildah; deploy/image/build.sh):
# $(BUILD)/image/kube-chorus-router-<version>.oci.tar.
image:
	@bash deploy/image/build.sh $(BUILD)/image

# The same archive from the Dockerfile's runtime stage around the binary just
# built here (what `make test` tests: ~3 min on a fresh machine, against ~20 for
# compiling again in the build stage).
image-runtime:
	@bash deploy/image/build.sh --binary $(BUILD)/kube-chorus-router $(BUILD)/image

# The built image's binary, from its root filesystem, with only CAP_NET_ADMIN
# converges a tunnel in a network namespace on the real control plane (root;
# test/deploy/image_test.py; ctest's deploy_image runs the same test on the
# archive that `make test` builds with image-runtime).
image-test: image controlplane
	@KCR_BINARY_DIR=$(BUILD) python3 test/deploy/image_test.py --archive-dir $(BUILD)/image

# Sanitizer builds (test/sanitizers/run.sh; docs/reliability.md): ASan+UBSan in
# build-asan/, TSan in build-tsan/; the unit, kube (with the integration tests)
# and actors labels unless SAN_CTEST_ARGS says otherwise. `make test` runs the
# ASan+UBSan build on CI_ASAN_ARGS, the part that fits its time budget: the C++
# suites (the kube client ones on the fake API server) and three integration
# tests of the binary on the real control plane.
SAN_CTEST_ARGS ?= -L 'unit|kube|actors' -E 'privileged|uml|^test_library_consumer$$|^deploy_'
CI_ASAN_ARGS   ?= -R '^(test_|integration_(seed_format|hand_edit|bad_node)_test$$)' \
  -E '_real$$|privileged|uml|^test_library_consumer$$|^test_fakeapi_selftest$$|^test_kubectl_fidelity$$'
test-asan: controlplane
	@bash test/sanitizers/run.sh asan build-asan $(abspath $(BUILD))/controlplane/bin $(SAN_CTEST_ARGS)
test-tsan: controlplane
	@bash test/sanitizers/run.sh tsan build-tsan $(abspath $(BUILD))/controlplane/bin $(SAN_CTEST_ARGS)

# libFuzzer targets (test/fuzz/, Debian's clang, ASan+UBSan) in build-fuzz/,
# FUZZ_SECONDS each; a crash fails and keeps its input (build-fuzz/fuzz/crashes/).
# `make test` gives each CI_FUZZ_SECONDS: 6 targets x 30 s keep its share of the
# time budget (docs/reliability.md). FUZZ_RUNS=10000000: each target stops after
# that many executions instead (the long run by hand); FUZZ_TARGETS picks some.
FUZZ_SECONDS    ?= 60
FUZZ_RUNS       ?=
FUZZ_TARGETS    ?=
CI_FUZZ_SECONDS ?= 30
fuzz:
	@cmake -S . -B build-fuzz -DCMAKE_BUILD_TYPE=Release -DCMAKE_CXX_COMPILER=clang++ \
	  -DKCR_SANITIZE=address,undefined -DKCR_FUZZ=ON -DKCR_BUILD_TESTS=OFF >/dev/null
	@cmake --build build-fuzz -j$(JOBS) --target fuzzers
	@FUZZ_SECONDS=$(FUZZ_SECONDS) FUZZ_RUNS=$(FUZZ_RUNS) bash test/fuzz/run.sh build-fuzz $(FUZZ_TARGETS)

format:
	@git ls-files '*.cpp' '*.hpp' | xargs clang-format -i

clean:
	@rm -rf $(BUILD)
