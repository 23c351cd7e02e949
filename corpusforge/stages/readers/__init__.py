"""Readers: the first stage of a pipeline, one input file → documents (WARC, JSONL, Parquet)."""
