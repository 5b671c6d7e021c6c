# rainrag — one-command setup, demo and tests. See README.md.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
GPU ?= 0
DEMO_DIR ?= .demo
PROFILE ?= paper
# faiss-gpu and faiss-cpu both provide the `faiss` module: a venv holds exactly one of them.
FAISS := $(if $(filter 1,$(GPU)),faiss-gpu==1.15.1,faiss-cpu==1.15.1)
FAISS_OTHER := $(if $(filter 1,$(GPU)),faiss-cpu,faiss-gpu)
STAMP := $(VENV)/.installed-$(if $(filter 1,$(GPU)),gpu,cpu)
OFFLINE := HF_HUB_OFFLINE=1 TRANSFORMERS_OFFLINE=1 PREFECT_SERVER_ANALYTICS_ENABLED=false
# The local Prefect server: its PREFECT_HOME (SQLite database, logs, PID files), address and worker.
SERVER_HOME ?= .prefect
# (not HOST/PORT: shells and platforms export those for other purposes)
SERVER_HOST ?= 127.0.0.1
SERVER_PORT ?= 4200
WORKER ?= 1
SERVER := $(OFFLINE) $(BIN)/python -m tools.server --home $(SERVER_HOME)

.PHONY: setup test demo bench models clean-demo server stop deploy review browser

setup: $(STAMP)

$(STAMP): requirements.txt Makefile
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	-$(BIN)/python -m pip uninstall --yes --quiet $(FAISS_OTHER) 2>/dev/null
	$(BIN)/python -m pip install --quiet -r requirements.txt '$(FAISS)'
	rm -f $(VENV)/.installed-*
	touch $@

test: setup
	$(OFFLINE) $(BIN)/python -m pytest -q

# Model weights of a profile into the models dir ($$RAINRAG_MODELS, default ~/.cache/rainrag/models):
# `paper` downloads from the Hugging Face hub; `offline` downloads nothing (it fits its quality model).
models: setup
	$(BIN)/python -m models.pipeline.fetch --profile $(PROFILE)

# The demo: a generated sample corpus in the real layouts of 10 datasets, distilled with the
# `offline` profile through the whole DAG (ingest → … → judge → manifest → audit). The corpus is
# generated once; a second `make demo` shows the ledger skipping finished shards. Every query printed
# here runs in tests/deploy/test_distill_deployment.py on a store the deployed flow built.
demo: setup
	test -f $(DEMO_DIR)/data/.corpus-complete -a -f $(DEMO_DIR)/data/defects.csv || { rm -rf $(DEMO_DIR)/data && \
	  $(BIN)/python -m corpus --out $(DEMO_DIR)/data && touch $(DEMO_DIR)/data/.corpus-complete; }
	$(OFFLINE) $(BIN)/python -m models.pipeline.fetch --profile offline
	$(OFFLINE) $(BIN)/python -m flows.distill --data-root $(DEMO_DIR)/data --store $(DEMO_DIR)/store --profile offline
	@echo
	@echo "Store:        $(DEMO_DIR)/store   (tables: samples, rejects, quality, captions, embeddings, inspections, duplicates, retrievals, votes, manifest, decisions, releases, audit, ledger)"
	@echo "Manifest:     $(DEMO_DIR)/store/manifest.parquet   (RainRAG: the kept pairs, per subset and split; every version: .venv/bin/python -m flows.release list --store $(DEMO_DIR)/store)"
	@$(BIN)/duckdb $(DEMO_DIR)/store/rainrag.duckdb "select subset, split, count(*) as pairs, round(avg(yes_votes), 2) as mean_yes_votes from manifest group by all order by all"
	@echo "Dataset card: $(DEMO_DIR)/store/reports/dataset-card.md   (plots: reports/dataset-*.png; contact sheets: reports/retrieval/)"
	@echo "Review app:   make review   (http://127.0.0.1:$(REVIEW_PORT): accept/reject references, inspect any sample, the agreement study)"
	@echo
	@echo "The votes of one sample (every judge's answer and raw output):"
	@echo "  $(BIN)/duckdb $(DEMO_DIR)/store/rainrag.duckdb \"select sample_id, judge, answer, round(latency_s, 3) as latency_s, left(raw, 90) as raw from votes where sample_id = (select min(sample_id) from votes) order by judge\""
	@$(BIN)/duckdb $(DEMO_DIR)/store/rainrag.duckdb "select sample_id, judge, answer, round(latency_s, 3) as latency_s, left(raw, 90) as raw from votes where sample_id = (select min(sample_id) from votes) order by judge"
	@echo
	@echo "Samples where the judges disagree:"
	@echo "  $(BIN)/duckdb $(DEMO_DIR)/store/rainrag.duckdb \"select v.sample_id, s.dataset, string_agg(v.judge || '=' || v.answer, ' ' order by v.judge) as votes from votes v join samples s using (sample_id) group by all having count(distinct v.answer) > 1 order by 2, 1 limit 10\""
	@$(BIN)/duckdb $(DEMO_DIR)/store/rainrag.duckdb "select v.sample_id, s.dataset, string_agg(v.judge || '=' || v.answer, ' ' order by v.judge) as votes from votes v join samples s using (sample_id) group by all having count(distinct v.answer) > 1 order by 2, 1 limit 10"
	@echo
	@echo "Why samples were discarded: every candidate has one row in the decisions table (the step that decided, and why):"
	@echo "  $(BIN)/duckdb $(DEMO_DIR)/store/rainrag.duckdb \"select sample_id, dataset, stage, reason, left(judge_reasons, 80) as judge_reasons from decisions where stage not in ('kept', 'pairing') order by stage, dataset, sample_id limit 12\""
	@$(BIN)/duckdb $(DEMO_DIR)/store/rainrag.duckdb "select stage, count(*) as candidates from decisions group by 1 order by 2 desc"
	@$(BIN)/duckdb $(DEMO_DIR)/store/rainrag.duckdb "select sample_id, dataset, stage, reason, left(judge_reasons, 80) as judge_reasons from decisions where stage not in ('kept', 'pairing') order by stage, dataset, sample_id limit 12"
	@echo
	@echo "Known answers: the corpus planted defects in a third of its training pairs ($(DEMO_DIR)/data/defects.csv); what RainRAG decided for each kind:"
	@echo "  $(BIN)/duckdb $(DEMO_DIR)/store/rainrag.duckdb \"select d.defect, c.stage, count(*) as pairs from read_csv('$(DEMO_DIR)/data/defects.csv') d join samples s on s.rainy_path = d.rainy_path join decisions c using (sample_id) where d.split = 'train' group by all order by 1, 2\""
	@$(BIN)/duckdb $(DEMO_DIR)/store/rainrag.duckdb "select d.defect, c.stage, count(*) as pairs from read_csv('$(DEMO_DIR)/data/defects.csv') d join samples s on s.rainy_path = d.rainy_path join decisions c using (sample_id) where d.split = 'train' group by all order by 1, 2"
	@echo
	@echo "Kept ratio per dataset (kept / judged; public test splits are held out and not judged, unpaired datasets are only references):"
	@echo "  $(BIN)/duckdb $(DEMO_DIR)/store/rainrag.duckdb \"select s.dataset, count(*) as samples, count(*) filter (s.split = 'test') as public_test, count(v.sample_id) as judged, count(m.sample_id) as kept, round(count(m.sample_id) / nullif(count(v.sample_id), 0), 2) as kept_ratio from samples s left join (select distinct sample_id from votes) v using (sample_id) left join manifest m using (sample_id) group by 1 order by 1\""
	@$(BIN)/duckdb $(DEMO_DIR)/store/rainrag.duckdb "select s.dataset, count(*) as samples, count(*) filter (s.split = 'test') as public_test, count(v.sample_id) as judged, count(m.sample_id) as kept, round(count(m.sample_id) / nullif(count(v.sample_id), 0), 2) as kept_ratio from samples s left join (select distinct sample_id from votes) v using (sample_id) left join manifest m using (sample_id) group by 1 order by 1"

# The review app (review/): reference review, sample inspector, agreement study, on loopback.
STORE ?= $(DEMO_DIR)/store
DATA_ROOT ?= $(DEMO_DIR)/data
REVIEW_HOST ?= 127.0.0.1
REVIEW_PORT ?= 8765
review: setup
	$(OFFLINE) $(BIN)/python -m review serve --store $(STORE) --data-root $(DATA_ROOT) --host $(REVIEW_HOST) \
	  --port $(REVIEW_PORT)

# Debian's chromium and its driver, for the review app's browser test (tests/review/test_browser.py).
SUDO := $(if $(filter 0,$(shell id -u)),,sudo)
browser:
	command -v chromium >/dev/null && command -v chromedriver >/dev/null || { $(SUDO) apt-get update -qq && \
	  DEBIAN_FRONTEND=noninteractive $(SUDO) apt-get install -y -qq chromium chromium-driver; }

bench: setup
	$(BIN)/python -m benchmarks.ingest_throughput

clean-demo:
	rm -rf $(DEMO_DIR)

# A Prefect server on $(SERVER_HOST):$(SERVER_PORT) and a worker of the process pool, in the background;
# the pools of prefect.yaml are created when missing. Not tied to `setup`: restarting a server never
# reinstalls.
server:
	@test -x $(BIN)/prefect || { echo "no $(BIN)/prefect: run make setup first"; exit 1; }
	$(SERVER) start --host $(SERVER_HOST) --port $(SERVER_PORT) $(if $(filter 0,$(WORKER)),--no-worker)

# Ends exactly the worker and server that `make server` recorded in $(SERVER_HOME)/*.pid.
stop:
	$(SERVER) stop

# Registers every deployment of prefect.yaml on the running server (DEPLOYMENTS="distill/rainrag" for some).
deploy:
	$(SERVER) deploy $(foreach d,$(DEPLOYMENTS),--name $(d))
