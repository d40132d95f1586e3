# `make demo` and `make test` work on a fresh machine with only Python: each
# creates the virtual environment first (once), then runs.
PYTHON ?= python3
VENV   ?= .venv
BIN    := $(VENV)/bin
WARCS  ?= ../shared/data/warc/*.warc.gz
OUT    ?= out/demo
RUN    ?= runs/demo

.PHONY: demo test setup clean

$(BIN)/cc2gpt: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e '.[dev]'
	touch $@

setup: $(BIN)/cc2gpt

test: setup
	$(BIN)/python -m pytest -q tests

demo: setup
	rm -rf $(OUT) $(RUN)
	$(BIN)/cc2gpt curate --input '$(WARCS)' --output $(OUT) --vocab-size 2048
	$(BIN)/cc2gpt inspect $(OUT)
	$(BIN)/cc2gpt train --data $(OUT) --preset tiny --out $(RUN) --max-steps 600
	$(BIN)/cc2gpt generate --checkpoint $(RUN) --prompt 'The' --max-new-tokens 80 --seed 0

clean:
	rm -rf $(VENV) out runs
