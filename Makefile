# Two commands on a fresh machine: `make demo` and `make test`. Each sets everything up.
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
# A CPU wheel of this version lies on the project's machines; a plain `torch` from PyPI
# is a multi-GB CUDA build. pyproject.toml keeps a range; this pin is for installs here.
TORCH ?= torch==2.13.0
DB ?= .crossrank
QUESTION ?= How do I leave a loop early?

.PHONY: install demo test lint clean

install: $(VENV)/.installed

$(VENV)/.installed: pyproject.toml integrations/*/pyproject.toml Makefile
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install -q --upgrade pip
	$(BIN)/python -m pip install -q "$(TORCH)"
	$(BIN)/python -m pip install -q -e ".[test,eval]" -e integrations/llama-index \
		-e "integrations/langchain[test]"
	touch $@

demo: install
	$(BIN)/python examples/sample_corpus.py demo-docs
	HF_HUB_DISABLE_PROGRESS_BARS=1 $(BIN)/crossrank index demo-docs --db $(DB)
	$(BIN)/crossrank ask "$(QUESTION)" --db $(DB)

lint: install
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy src integrations/langchain/langchain_crossrank
	cd integrations/llama-index && ../../$(BIN)/mypy --config-file ../../pyproject.toml \
		--explicit-package-bases -p llama_index.retrievers.crossrank \
		-p llama_index.postprocessor.crossrank

test: lint
	$(BIN)/python -m pytest -ra

clean:
	rm -rf $(VENV) $(DB) demo-docs
