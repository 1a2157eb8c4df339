# The user-facing commands. `make test` is also what CI runs (.ci/run).
BUILD      ?= build
BUILD_TYPE ?= Release
JOBS       ?= $(shell nproc)
CTEST_ARGS ?=

.PHONY: all deps configure build controlplane test run clean format bench image image-runtime image-test

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

format:
	@git ls-files '*.cpp' '*.hpp' | xargs clang-format -i

clean:
	@rm -rf $(BUILD)
