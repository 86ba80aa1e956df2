# Two commands on a fresh machine: `make lab` (the course) and `make test` (the suite).
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin

.PHONY: lab test bench site install install-test clean

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install -q --upgrade pip

install: $(BIN)/python
	$(BIN)/pip install -q -e .

install-test: $(BIN)/python
	$(BIN)/pip install -q -e '.[test]'

lab: install
	$(BIN)/jupyter lab notebooks/

test: install-test
	MPLBACKEND=Agg $(BIN)/python -m pytest -n auto tests --nbmake notebooks/

bench: install-test
	MPLBACKEND=Agg $(BIN)/python -m benchmarks

# The course as a static site in site/ (every notebook executed; open site/index.html from disk, no network needed).
site: install
	$(BIN)/python -m kplab.views.site --notebooks notebooks --out site

clean:
	rm -rf $(VENV) build *.egg-info site
