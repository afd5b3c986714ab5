# trackr: `make run` serves the seeded API on a local primary + replica; `make test` checks all.
SHELL := /bin/bash
PYTHON ?= python3
UV := $(PYTHON) -m uv
PORT ?= 8000
REPLICAS ?= 1
NODES ?= 2
PYTEST_ARGS ?=

.PHONY: help setup ts-deps run test lint format pytest failover-report ha-report sites-report sites-deps monitor-screenshot observability-picture frontend-screenshot bench bench-scale cluster-up cluster-down cluster-status ha-deps redis-deps backup-deps backup-requirements backup-report cluster-ha clean

help: ## List the targets
	@grep -E '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  %-16s %s\n", $$1, $$2}'

setup: ## Create .venv from uv.lock, Patroni included (bootstraps uv with pip when missing)
	@$(UV) --version >/dev/null 2>&1 || $(PYTHON) -m pip install --quiet --disable-pip-version-check uv
	@$(UV) sync --frozen --extra ha --quiet
	@# Bytecode, as the image has it: with PYTHONDONTWRITEBYTECODE set, every process would
	@# otherwise compile all its imports from source (about 1 s of each start).
	@$(UV) run --frozen python -m compileall -q -j0 .venv/lib app alembic bench >/dev/null

TS := clients/typescript

ts-deps: $(TS)/node_modules/.package-lock.json ## The TypeScript client's npm packages, from its lockfile

$(TS)/node_modules/.package-lock.json: $(TS)/package-lock.json
	@command -v npm >/dev/null 2>&1 || { echo "npm is missing: install Node.js 20 (Debian: nodejs npm)"; exit 1; }
	@cd $(TS) && npm ci --no-audit --no-fund --loglevel=error
	@touch $@

run: setup backup-deps ## Start the local cluster (WAL archived from the start), migrate, seed, print a dev token and serve on PORT
	@$(UV) run --frozen trackr dev --replicas $(REPLICAS) --port $(PORT)

lint: setup ts-deps ## ruff, mypy, the import contracts; prettier and tsc on the TypeScript client
	@$(UV) run --frozen ruff check .
	@$(UV) run --frozen ruff format --check .
	@$(UV) run --frozen mypy
	@$(UV) run --frozen lint-imports --no-cache
	@cd $(TS) && npm run --silent lint

format: setup ## Apply ruff fixes and formatting
	@$(UV) run --frozen ruff check --fix .
	@$(UV) run --frozen ruff format .
	@cd $(TS) && npm run --silent format

pytest: setup ha-deps redis-deps backup-deps ts-deps ## Only the tests (the TypeScript client's and the browser's included)
	@$(UV) run --frozen pytest $(PYTEST_ARGS)

test: lint pytest ## Lint, type-check and run every test (real primary + replica)

bench: setup ## Benchmark trackr against raw asyncpg; write docs/benchmarks.md (BENCH_ARGS=--rows 1000000)
	@$(UV) run --frozen python -m bench.run $(BENCH_ARGS)

bench-scale: setup ## p99 of lists and deep pages at 100k vs 1M rows, side by side (docs/benchmarks.md)
	@$(UV) run --frozen python -m bench.scale $(BENCH_ARGS)

failover-report: setup ## Break real processes under load; write docs/failover.md
	@$(UV) run --frozen python -m tests.faults.report

ha-report: setup ha-deps ## Patroni drills under load (switchover, killed leader, lost standby): docs/failover.md
	@$(UV) run --frozen python -m tests.ha.report

backup-report: setup backup-deps ## Backup size and time, RPO and restore time (RTO) at 100k and 1M rows: docs/backups.md
	@$(UV) run --frozen python -m tests.backup.report $(BACKUP_REPORT_ARGS)

sites-report: setup ha-deps sites-deps ## Three-site drills and WAN write costs (root): docs/failover.md "Sites"
	@$(UV) run --frozen python -m tests.sites.report

monitor-screenshot: setup ## Three local backends, one stopped, one drifted: docs/images/monitor-dashboard.png
	@$(UV) run --frozen python -m tests.monitor.screenshot

observability-picture: setup ## The dashboard's key panels from a real Prometheus run: docs/images/observability-panels.svg
	@$(UV) run --frozen python -m tests.observability.picture

frontend-screenshot: setup ts-deps ## examples/frontend in Chromium, two of three backends down: docs/images/frontend.png
	@$(UV) run --frozen python -m tests.client.frontend_screenshot

cluster-up: setup ## Start the local cluster only
	@$(UV) run --frozen trackr cluster up --replicas $(REPLICAS)

# $(call apt_when_missing,COMMAND,DEBIAN PACKAGE,WHAT IS LOST WITHOUT IT): install the
# package when the command is missing and we are root on Debian; else say what to install.
define apt_when_missing
@command -v $(1) >/dev/null 2>&1 || { \
  if [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then \
    echo "$(1) is missing: installing Debian's $(2)"; \
    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq $(2); \
  else \
    echo "$(1) is missing and cannot be installed here (not root): install $(2)$(3)"; \
  fi; }
endef

sites-deps: ## Install Debian's nftables (WAN latency between local sites) when missing (as root)
	$(call apt_when_missing,nft,nftables,)

redis-deps: ## Install Debian's redis-server for the rate-limit tests when it is missing (as root)
	$(call apt_when_missing,redis-server,redis-server,; the tests that need it fail without it)

BARMAN := .tools/barman
BARMAN_REQUIREMENTS := deploy/backup/barman-requirements

backup-deps: $(BARMAN)/bin/barman ## barman (the backup tool, GPL-3) in its own virtualenv, from its hashed pins

$(BARMAN)/bin/barman: $(BARMAN_REQUIREMENTS).txt
	@$(UV) --version >/dev/null 2>&1 || $(PYTHON) -m pip install --quiet --disable-pip-version-check uv
	@rm -rf $(BARMAN) && $(UV) venv --quiet --python $(PYTHON) $(BARMAN)
	@$(UV) pip install --quiet --python $(BARMAN)/bin/python --no-deps --require-hashes -r $<
	@touch $@

backup-requirements: ## Re-pin barman and its dependencies (deploy/backup/barman-requirements.*)
	@{ $(UV) pip compile --quiet --python-version 3.11 --generate-hashes --no-header $(BARMAN_REQUIREMENTS).in; \
	   echo "# barman itself, installed with --no-deps (see barman-requirements.in)"; \
	   echo "barman==3.19.1" | $(UV) pip compile --quiet --python-version 3.11 --no-deps --generate-hashes --no-header -; \
	 } > $(BARMAN_REQUIREMENTS).txt

ha-deps: ## Install Debian's etcd-server for the HA cluster when it is missing (as root)
	$(call apt_when_missing,etcd,etcd-server, for the HA cluster; the HA tests are skipped without it)

cluster-ha: setup ha-deps ## etcd + Patroni nodes with automatic failover in .data/ha (NODES=2|3)
	@$(UV) run --frozen trackr cluster up --ha --nodes $(NODES) --dir .data/ha

cluster-down: setup ## Stop the local cluster
	@$(UV) run --frozen trackr cluster down

cluster-status: setup ## Show the local cluster's nodes
	@$(UV) run --frozen trackr cluster status

clean: ## Stop the cluster and delete local data
	-@$(UV) run --frozen trackr cluster down 2>/dev/null
	-@$(UV) run --frozen trackr cluster down --dir .data/ha 2>/dev/null
	rm -rf .data .pytest_cache .mypy_cache .ruff_cache
