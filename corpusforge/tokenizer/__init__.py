"""Tokenizers: train them from Parquet shards, compare them, and turn shards into token files.

One concept per module; the CLI imports them lazily so `corpusforge run` never pays for them.

- `recipes`  the YAML recipes in the top-level `tokenizers/` folder → a validated `Recipe`
- `corpus`   streaming text out of Parquet shards (no full load), with a byte budget
- `train`    `train-tokenizer`: HF `tokenizers` BPE trainer configured by a recipe
- `artifact` a trained tokenizer folder on disk: tokenizer.json + metadata, its hash and EOS
- `stats`    `tokenizer-stats`: bytes/token, tokens/word, vocabulary used, multi-word share
- `shards`   the token-shard format (.bin/.idx/.json) and the memmap loader the trainer uses
- `tokenize` `tokenize`: Parquet shards → token shards, parallel, resumable, deterministic
"""
