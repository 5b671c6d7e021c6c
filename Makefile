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

.PHONY: setup test demo bench models clean-demo

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
# `offline` profile. The corpus is generated once; a second `make demo` shows the ledger skipping
# finished shards.
demo: setup
	test -f $(DEMO_DIR)/data/.corpus-complete || { rm -rf $(DEMO_DIR)/data && \
	  $(BIN)/python -m corpus --out $(DEMO_DIR)/data && touch $(DEMO_DIR)/data/.corpus-complete; }
	$(OFFLINE) $(BIN)/python -m models.pipeline.fetch --profile offline
	$(OFFLINE) $(BIN)/python -m flows.distill --data-root $(DEMO_DIR)/data --store $(DEMO_DIR)/store --profile offline
	@echo
	@echo "Store:   $(DEMO_DIR)/store   (tables: samples, rejects, quality, captions, embeddings, retrievals, ledger; contact sheets in reports/retrieval)"
	@echo "Catalog: $(DEMO_DIR)/store/rainrag.duckdb — try:"
	@echo "  $(BIN)/duckdb $(DEMO_DIR)/store/rainrag.duckdb \"select s.dataset, q.rainy_quality, c.keywords from samples s join quality q using (sample_id) join captions c using (sample_id) limit 5\""
	@$(BIN)/duckdb $(DEMO_DIR)/store/rainrag.duckdb "select s.dataset, count(*) as samples, round(median(q.rainy_quality), 2) as quality, count(*) filter (q.in_pool) as reference_pool from samples s join quality q using (sample_id) group by 1 order by 1"

bench: setup
	$(BIN)/python -m benchmarks.ingest_throughput

clean-demo:
	rm -rf $(DEMO_DIR)
