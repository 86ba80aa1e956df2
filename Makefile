# Two commands on a fresh machine: `make lab` (the course) and `make test` (the suite).
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
# JupyterLab reads every file in here as settings defaults (jupyterlab_server's overrides.d).
LAB_SETTINGS = $(BIN)/../share/jupyter/lab/settings/overrides.d

.PHONY: lab test bench site install install-test lab-settings git-filter clean

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install -q --upgrade pip

install: $(BIN)/python
	$(BIN)/pip install -q -e .
	@$(MAKE) -s lab-settings git-filter BIN=$(BIN)

install-test: $(BIN)/python
	$(BIN)/pip install -q -e '.[test]'
	@$(MAKE) -s lab-settings git-filter BIN=$(BIN)

# An editable install does not copy pyproject's data-files, so put the settings in place here.
lab-settings:
	mkdir -p $(LAB_SETTINGS)
	cp jupyter/overrides.d/kplab.json $(LAB_SETTINGS)/kplab.json

# Outputs never reach git: the clean filter .gitattributes names, in this clone only (skipped outside git).
git-filter:
	@if git rev-parse --is-inside-work-tree >/dev/null 2>&1; then \
		$(BIN)/nbstripout --install --attributes .gitattributes && \
		git config filter.nbstripout.extrakeys "metadata.language_info" && \
		git config filter.nbstripout.required false; \
	fi

# 127.0.0.1 only; allow_root so it also starts as root (a container, a cloud VM); saved notebooks keep no outputs
# (kplab.notebook), so running the course leaves `git status` clean. Opens the welcome notebook.
lab: install
	$(BIN)/jupyter lab --ServerApp.ip=127.0.0.1 --ServerApp.allow_root=True \
		--ContentsManager.pre_save_hook=kplab.notebook.strip_on_save \
		--ServerApp.root_dir=notebooks notebooks/01-welcome.ipynb

test: install-test
	MPLBACKEND=Agg $(BIN)/python -m pytest -n auto tests --nbmake notebooks/

bench: install-test
	MPLBACKEND=Agg $(BIN)/python -m benchmarks

# The course as a static site in site/ (every notebook executed; open site/index.html from disk, no network needed).
site: install
	$(BIN)/python -m kplab.views.site --notebooks notebooks --out site

clean:
	rm -rf $(VENV) build *.egg-info site
	-git config --remove-section filter.nbstripout 2>/dev/null
