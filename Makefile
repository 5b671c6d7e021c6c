# rainrag — one-command setup, demo and tests. See README.md.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
GPU ?= 0
DEMO_DIR ?= .demo
# faiss-gpu and faiss-cpu both provide the `faiss` module: a venv holds exactly one of them.
FAISS := $(if $(filter 1,$(GPU)),faiss-gpu==1.15.1,faiss-cpu==1.15.1)
FAISS_OTHER := $(if $(filter 1,$(GPU)),faiss-cpu,faiss-gpu)
STAMP := $(VENV)/.installed-$(if $(filter 1,$(GPU)),gpu,cpu)
OFFLINE := HF_HUB_OFFLINE=1 TRANSFORMERS_OFFLINE=1 PREFECT_SERVER_ANALYTICS_ENABLED=false

.PHONY: setup test demo bench clean-demo

setup: $(STAMP)

$(STAMP): requirements.txt Makefile
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	-$(BIN)/python -m pip uninstall --yes --quiet $(FAISS_OTHER) 2>/dev/null
	$(BIN)/python -m pip install --quiet -r requirements.txt '$(FAISS)'
	rm -f $(VENV)/.installed-*
	touch $@

test: setup
	$(OFFLINE) $(BIN)/python -m pytest -q

# The demo: a generated sample corpus in the real layouts of 10 datasets, ingested into a store.
# The corpus is generated once; a second `make demo` shows the ledger skipping finished shards.
demo: setup
	test -f $(DEMO_DIR)/data/.corpus-complete || { rm -rf $(DEMO_DIR)/data && \
	  $(BIN)/python -m corpus --out $(DEMO_DIR)/data && touch $(DEMO_DIR)/data/.corpus-complete; }
	$(OFFLINE) $(BIN)/python -m flows.ingest --data-root $(DEMO_DIR)/data --store $(DEMO_DIR)/store
	@echo
	@echo "Store:   $(DEMO_DIR)/store   (tables: samples, rejects, ledger)"
	@echo "Catalog: $(DEMO_DIR)/store/rainrag.duckdb — try:"
	@echo "  $(BIN)/duckdb $(DEMO_DIR)/store/rainrag.duckdb \"select dataset, count(*) from samples group by 1 order by 1\""
	@$(BIN)/duckdb $(DEMO_DIR)/store/rainrag.duckdb "select dataset, count(*) from samples group by 1 order by 1"

bench: setup
	$(BIN)/python -m benchmarks.ingest_throughput

clean-demo:
	rm -rf $(DEMO_DIR)
