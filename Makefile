# dmleval: the two commands a new user runs are `make demo` and `make test`.
# `make help` lists every target.

SWIFT   ?= swift
RELEASE := .build/release/dmleval
# Debian packages the build links against: OpenBLAS (CBLAS target), SQLite (GRDB), OpenSSL's
# libcrypto for SHA-256 (CCrypto target), zlib (ZIPFoundation, for .npz), and pkg-config,
# through which SwiftPM finds their headers.
DEBIAN_PACKAGES := libopenblas-dev libsqlite3-dev libssl-dev zlib1g-dev pkg-config
# apt-get needs root; use sudo when we are not root and it exists.
SUDO := $(shell [ "$$(id -u)" = 0 ] || command -v sudo >/dev/null 2>&1 && [ "$$(id -u)" != 0 ] && echo sudo)

.DEFAULT_GOAL := help
.PHONY: help deps build demo test slurm-test fuzz bench compare ann-bench man docs report-check clean

help: ## List the targets
	@grep -E '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  make %-10s %s\n", $$1, $$2}'

deps: ## Install the Debian packages the build needs, when missing
	@missing=""; \
	for p in $(DEBIAN_PACKAGES); do dpkg -s $$p >/dev/null 2>&1 || missing="$$missing $$p"; done; \
	if [ -n "$$missing" ]; then \
	  echo "installing Debian packages:$$missing"; \
	  $(SUDO) apt-get update -qq && $(SUDO) DEBIAN_FRONTEND=noninteractive apt-get install -y -qq $$missing; \
	fi

build: deps ## Build dmleval in release mode
	$(SWIFT) build -c release --product dmleval

demo: build ## Install what is missing, build, and run the main job on the bundled fixtures
	$(RELEASE) fixtures/digits.fbin fixtures/digits-labels.txt --ndcg 2,4,8

test: deps ## Run the whole test suite (what CI runs)
	$(SWIFT) test

# Shards of the array job in `make slurm-test`.
SLURM_SHARDS ?= 4

slurm-test: deps ## One-node Slurm cluster (slurm-wlm, munge; installed if missing): sharded array + merge == unsharded, bit for bit
	[ -x .build/debug/dmleval ] || $(SWIFT) build --product dmleval
	bash scripts/slurm/cluster-test.sh $(SLURM_SHARDS)

# Seconds of fuzzing per reader for `make fuzz` (make test spends 2).
FUZZ_SECONDS ?= 120

fuzz: deps ## Fuzz the readers of untrusted files (.npy, .fbin, labels, baselines) for longer
	DMLEVAL_FUZZ_SECONDS=$(FUZZ_SECONDS) $(SWIFT) test --filter FuzzTests

bench: deps ## Run the package-benchmark suites (Benchmarks/, a separate package)
	cd Benchmarks && $(SWIFT) package --disable-sandbox benchmark

compare: build ## Time faiss-cpu and pytorch-metric-learning against dmleval on the same files
	bash scripts/setup-reference-env.sh
	.venv-reference/bin/python scripts/make-bench-data.py .bench-data
	.venv-reference/bin/python scripts/compare-reference.py --data-dir .bench-data --dmleval $(RELEASE) \
	    --json-out .bench-data/compare.json

# Extra flags for scripts/ann-benchmark.py, e.g. make ann-bench ANN_FLAGS="--wait-idle 60"
ANN_FLAGS ?=

ann-bench: build ## Recall@10 vs QPS: dmleval HNSW and IVF against hnswlib and faiss IVF-Flat, real data
	bash scripts/setup-reference-env.sh
	.venv-reference/bin/python scripts/ann-benchmark.py --dmleval $(RELEASE) --out-dir .bench-data \
	    --plot docs/ann-recall-qps.svg $(ANN_FLAGS)

man: deps ## Build the man page .build/man/dmleval.1 (argument-parser's manual plugin); view: man -l .build/man/dmleval.1
	$(SWIFT) package plugin generate-manual --configuration debug
	mkdir -p .build/man
	cp .build/plugins/GenerateManual/outputs/dmleval/dmleval.1 .build/man/dmleval.1
	@echo "man page: .build/man/dmleval.1 (man -l .build/man/dmleval.1)"

# The libraries whose API documentation `make docs` builds, into one combined archive.
DOC_TARGETS := RetrievalEval RetrievalEvalStore DMLEvalJobs MetricLearning

docs: deps ## Build the libraries' API documentation (DocC) into .build/docs; open .build/docs/index.html through a web server
	$(SWIFT) package --allow-writing-to-directory .build/docs generate-documentation \
	    $(foreach t,$(DOC_TARGETS),--target $(t)) --enable-experimental-combined-documentation \
	    --output-path .build/docs --transform-for-static-hosting
	@echo "documentation: .build/docs (serve it, e.g. python3 -m http.server -d .build/docs, then open /documentation/)"

report-check: deps ## Render the demo's report in headless Chromium (installed if missing); fail on a blank page or console error
	[ -x .build/debug/dmleval ] || $(SWIFT) build --product dmleval
	bash scripts/report-check.sh .report-check

clean: ## Remove build products
	rm -rf .build
