"""OUTPUT/README.md: the run's Hugging Face dataset card, so the output folder is a dataset.

Its YAML front matter names the corpus files (`configs: data/*.parquet`), so
`datasets.load_dataset(OUTPUT)` (or the Hub, once the folder is uploaded) reads the corpus and
nothing else (not rejected/*.jsonl, not work/). The body says how it was made: the stages with
every setting (thresholds included), documents in and out per stage, the config hash and the
corpusforge version. It holds no timing, so the same config and inputs give the same card.

The card carries `MARK`; a README.md without it is the user's, and is never written over.
"""

from __future__ import annotations

import json

import pyarrow as pa
import yaml

from corpusforge import __version__
from corpusforge.engine.config import PipelineConfig
from corpusforge.engine.stats import StageStats
from corpusforge.io.atomic import write_text_atomic
from corpusforge.io.paths import AnyPath

CARD_FILE = "README.md"
MARK = "<!-- corpusforge dataset card: rewritten by every `corpusforge run` into this folder -->"
DATA_FILES = "data/*.parquet"
_SIZES = ((10**3, "n<1K"), (10**4, "1K<n<10K"), (10**5, "10K<n<100K"), (10**6, "100K<n<1M"), (10**7, "1M<n<10M"))
_SIZES += ((10**8, "10M<n<100M"), (10**9, "100M<n<1B"), (10**10, "1B<n<10B"), (10**11, "10B<n<100B"))
_SIZES += ((10**12, "100B<n<1T"),)


def is_ours(path: AnyPath) -> bool:
    """Whether `path` is a card corpusforge wrote (absent counts as ours to write)."""
    return not path.is_file() or MARK.encode() in path.read_bytes()


def size_category(n: int) -> str:
    """The Hub's size_categories bucket for n documents."""
    return next((label for limit, label in _SIZES if n < limit), "n>1T")


def write_card(config: PipelineConfig, stages: list[StageStats], schema: pa.Schema, shards: int) -> bool:
    """Write OUTPUT/README.md unless a README.md that is not ours is there; returns whether written."""
    path = config.output / CARD_FILE
    if not is_ours(path):
        return False
    write_text_atomic(path, card_text(config, stages, schema, shards))
    return True


def card_text(config: PipelineConfig, stages: list[StageStats], schema: pa.Schema, shards: int) -> str:
    documents = stages[-1].docs_out if stages else 0
    front = {
        "configs": [{"config_name": "default", "data_files": [{"split": "train", "path": DATA_FILES}]}],
        "size_categories": [size_category(documents)],
        "task_categories": ["text-generation"],
        "tags": ["corpusforge", "pretraining"],
    }
    name = config.source.rsplit("/", 1)[-1].removesuffix(".yaml") if config.source != "<dict>" else "corpus"
    lines = [
        "---",
        yaml.safe_dump(front, sort_keys=False).rstrip(),
        "---",
        MARK,
        "",
        f"# {name}",
        "",
        f"A pretraining text corpus made by corpusforge {__version__} (`corpusforge run`), config hash "
        f"`{config.hash()}`: {documents:,} documents in {shards:,} Parquet shard(s) (`{DATA_FILES}`). The same "
        "hash and version are in every shard's Parquet footer (`corpusforge.config_hash`, `corpusforge.version`).",
        "",
        "```python",
        "from datasets import load_dataset",
        'corpus = load_dataset("path/to/this/folder", split="train")  # or the Hub repository it was uploaded to',
        "```",
        "",
        "## Pipeline",
        "",
        "The stages in order, with every setting (defaults filled in):",
        "",
        "| # | stage | settings |",
        "| --- | --- | --- |",
    ]
    for i, spec in enumerate(config.stages):
        settings = ", ".join(f"`{k}: {json.dumps(v, default=str)}`" for k, v in spec.args.items()) or "defaults"
        lines.append(f"| {i} | `{spec.label}` | {settings.replace('|', '&#124;')} |")
    lines += [
        "",
        "## Counts",
        "",
        "| stage | documents in | documents out | dropped | MB out |",
        "| --- | ---: | ---: | ---: | ---: |",
    ]
    for s in stages:
        lines.append(
            f"| `{s.name}` | {s.docs_in:,} | {s.docs_out:,} | {sum(s.dropped.values()):,} | {s.bytes_out / 1e6:,.1f} |"
        )
    reasons = [(s.name, r, n) for s in stages for r, n in sorted(s.dropped.items(), key=lambda kv: (-kv[1], kv[0]))]
    if reasons:
        lines += ["", "Drop reasons:", "", "| stage | reason | documents |", "| --- | --- | ---: |"]
        lines += [f"| `{stage}` | `{reason}` | {n:,} |" for stage, reason, n in reasons]
    lines += ["", "## Columns", "", "| column | type |", "| --- | --- |"]
    lines += [f"| `{f.name}` | {f.type} |" for f in schema]
    shown = ", ".join(f"`{p}`" for p in config.inputs[:5])
    more = f" and {len(config.inputs) - 5:,} more" if len(config.inputs) > 5 else ""
    lines += [
        "",
        "## Source",
        "",
        f"{len(config.inputs):,} input file(s): {shown}{more}. The text is as crawled and filtered; corpusforge makes "
        "no claim about its licence. `stats.json` and `report.html` beside this card give the full figures.",
        "",
    ]
    return "\n".join(lines)
