"""`corpusforge select OUTPUT --where EXPR [--top COLUMN:FRACTION] --output NEW`: a new corpus
from an annotated one, at new thresholds, without running the pipeline again (annotate once,
select many: RedPajama-v2's idea).

The rows of OUTPUT/data/*.parquet that `--where` (corpusforge.where) selects are kept; then,
with `--top`, the `FRACTION` of those with the highest `COLUMN`, exactly ceil(FRACTION x n),
ties broken by position (shard, then row: the pipeline's order, so `--top quality_score:0.3`
on an annotated run keeps what `select: top_fraction` with `fraction: 0.3` keeps) and a row
without a value never among them. Every column named is checked against every shard before
anything is written.

NEW is a normal pipeline output folder (corpusforge.io.run_folder): data/ with the source's
shard names (a shard left with no row is not written), stats.json (the source's stages, then
`select` with what the expression and the cut dropped), config.yaml (the source's config, the
source folder and the selection, a new hash), quality_classifier.json when there is a
`quality_score` column (the report's histograms), and report.html.
"""

from __future__ import annotations

import hashlib
import json
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute  # noqa: F401 - pa.compute
import pyarrow.parquet as pq

from corpusforge.errors import CorpusforgeError
from corpusforge.io.atomic import atomic_path, write_json_atomic
from corpusforge.io.run_folder import Fingerprint
from corpusforge.stages.filters.quality_classifier import SCORE_COLUMN, summary_file, top_rows, write_score_summary
from corpusforge.where import Where, WhereError, parse_where

_DEDUP_STAGES = ("exact_dedup", "minhash_dedup")


class SelectError(CorpusforgeError):
    """`select` cannot run as asked (source folder, --top)."""


def parse_top(text: str) -> tuple[str, float]:
    column, sep, frac = text.rpartition(":")
    try:
        fraction = float(frac)
    except ValueError:
        fraction = -1.0
    if not sep or not column or not 0.0 < fraction <= 1.0:
        raise SelectError(f"--top {text!r}: expected COLUMN:FRACTION with 0 < FRACTION <= 1 (e.g. quality_score:0.3)")
    return column, fraction


def _shards(source: Path) -> list[Path]:
    shards = sorted((source / "data").glob("*.parquet"))
    if not shards:
        raise SelectError(f"{source}: no Parquet shards in {source / 'data'} (expected a pipeline output folder)")
    return shards


def _check_columns(shards: list[Path], where: Where | None, top: str | None) -> None:
    for shard in shards:
        schema = pq.read_schema(shard)
        if where is not None:
            where.check(schema.names, f"the shard {shard}")
        if top is not None:
            if top not in schema.names:
                raise WhereError(
                    f"--top names column {top!r}, which the shard {shard} lacks; columns: {', '.join(schema.names)}"
                )
            typ = schema.field(top).type
            if not (pa.types.is_integer(typ) or pa.types.is_floating(typ)):
                raise SelectError(f"--top {top}: the column is {typ}, not a number ({shard})")


def _where_mask(table: pa.Table, where: Where | None) -> np.ndarray:
    """Each row: does `where` select it (null, as in SQL, does not)."""
    if where is None:
        return np.ones(table.num_rows, dtype=bool)
    return pa.compute.fill_null(_evaluate(table, where), False).to_numpy(zero_copy_only=False).astype(bool)


def _evaluate(table: pa.Table, where: Where) -> pa.Array:
    """The expression's value on every row (null where SQL's would be null)."""
    import pyarrow.dataset as ds

    scanner = ds.dataset(table).scanner(columns={"_keep": where.expression})
    try:
        return scanner.to_table().column("_keep").combine_chunks()
    except (pa.ArrowInvalid, pa.ArrowNotImplementedError) as exc:
        raise WhereError(f"--where {where.text!r}: {exc}") from None


def select(
    source: str | Path,
    output: str | Path,
    where: str | None = None,
    top: str | None = None,
    overwrite: bool = False,
    quiet: bool = False,
    report: bool = True,
) -> dict[str, Any]:
    """Write the selection into `output`; returns its stats.json."""
    from corpusforge.engine.runner import is_run_folder, output_folder, write_report_after_run

    started = time.perf_counter()
    if where is None and top is None:
        raise SelectError("select needs --where EXPR, --top COLUMN:FRACTION, or both")
    src = Path(source)
    if not is_run_folder(src):
        raise SelectError(f"{src}: not a pipeline output folder (no config.yaml of a corpusforge run)")
    shards = _shards(src)
    parsed = parse_where(where) if where is not None else None
    top_column, fraction = parse_top(top) if top is not None else (None, 1.0)
    _check_columns(shards, parsed, top_column)

    # pass 1: the rows --where keeps, then the --top cut among them, reading only their columns
    needed = list(dict.fromkeys((parsed.columns if parsed else []) + ([top_column] if top_column else [])))
    masks, values, bytes_in = [], [], []
    for shard in shards:
        table = pq.read_table(shard, columns=needed + ["text"])
        masks.append(_where_mask(table, parsed))
        bytes_in.append(int(pa.compute.sum(pa.compute.utf8_length(table.column("text"))).as_py() or 0))
        if top_column:
            values.append(table.column(top_column).to_numpy(zero_copy_only=False).astype(np.float64))
    where_kept = [m.copy() for m in masks]
    if top_column:
        score = np.concatenate([v[m] for v, m in zip(values, masks)])
        shard_no = np.concatenate([np.full(int(m.sum()), i) for i, m in enumerate(masks)])
        row = np.concatenate([np.flatnonzero(m) for m in masks])
        order = top_rows(score, shard_no, row, fraction)  # a null (NaN once a float) is never among the top
        chosen = [np.zeros_like(m) for m in masks]
        for i, r in zip(shard_no[order], row[order]):
            chosen[i][r] = True
        masks = chosen

    config = _read_yaml(src / "config.yaml")
    if warning := dedup_after_warning(config.get("stages") or [], needed):
        print(f"warning: {warning}", file=sys.stderr)
    selection = {"source": str(src.resolve()), "where": where, "top": top}
    key = json.dumps({"selection": selection, "source_hash": config.get("hash")}, sort_keys=True)
    values_out = {
        "select": selection,
        "input": [str(s) for s in shards],
        "output": str(output),
        "stages": config.get("stages", []),
        "source_config": {k: v for k, v in config.items() if k not in ("output", "stages")},
        "hash": hashlib.sha256(key.encode()).hexdigest()[:16],
    }
    fingerprint = Fingerprint("config.yaml", values_out, may_change=("output",))
    out = Path(output)
    with output_folder(out, [str(s) for s in shards]) as folder:
        folder.start(overwrite, "a run or selection made otherwise", fingerprint)
        folder.save(fingerprint)
        kept_docs = kept_bytes = 0
        written = []
        for shard, mask in zip(shards, masks):
            if not mask.any():
                continue
            table = pq.read_table(shard).filter(pa.array(mask))
            kept_docs += table.num_rows
            kept_bytes += int(pa.compute.sum(pa.compute.utf8_length(table.column("text"))).as_py() or 0)
            path = out / "data" / shard.name
            with atomic_path(path) as tmp:
                pq.write_table(table, tmp, compression="zstd")
            written.append(f"data/{shard.name}")
        for stale in sorted((out / "data").glob("*.parquet")):  # a rerun at a shard now empty
            if f"data/{stale.name}" not in written:
                stale.unlink()
        docs_in = sum(len(m) for m in where_kept)
        after_where = sum(int(m.sum()) for m in where_kept)
        dropped = {"select:where": docs_in - after_where} if parsed else {}
        if top_column:
            dropped["select:top"] = after_where - kept_docs
        stages = [s for s in (_read_json(src / "stats.json").get("stages") or [])]
        writer = stages.pop() if stages and stages[-1].get("name") == "parquet_writer" else None
        seconds = round(time.perf_counter() - started, 3)
        stages.append(
            {"name": "select", "in": docs_in, "out": kept_docs, "bytes_in": sum(bytes_in), "bytes_out": kept_bytes}
            | {"dropped": dropped, "seconds": seconds}
        )
        if writer is not None:
            stages.append(writer | {"in": kept_docs, "out": kept_docs, "bytes_in": kept_bytes, "bytes_out": kept_bytes})
        stats = {
            "stages": stages,
            "wall_seconds": seconds,
            "config_hash": values_out["hash"],
            "select": selection,
            "shards": written,
        }
        write_json_atomic(out / "stats.json", stats)
        _score_summary(shards, masks, out, selection)
        if report:
            write_report_after_run(out, quiet)
    if not quiet:
        print(f"select: {kept_docs:,} of {docs_in:,} documents kept → {out / 'data'}", file=sys.stderr)
    return stats


def dedup_after_warning(stages: list[Any], columns: list[str]) -> str | None:
    """Why the selection may differ from a pipeline run at these thresholds, or None: a dedup
    stage after the stage that wrote a selected column kept the first of each duplicate set
    among all the documents, so where the selection drops that first copy, the later copy a
    pipeline run would have kept is not in the source."""
    names = [next(iter(s)) if isinstance(s, dict) else str(s) for s in stages]

    def writer(column: str) -> int | None:
        if column == SCORE_COLUMN:
            column = "quality_classifier_score"
        return next((i for i, n in enumerate(names) if column.startswith(n + "_")), None)

    for column in columns:
        at = writer(column)
        dedup = next((n for n in names[at + 1 :] if n in _DEDUP_STAGES), None) if at is not None else None
        if dedup:
            return (
                f"the source ran {dedup} after {names[at]} (which wrote {column}): it kept the first "
                "copy of each duplicate set among all documents, so where this selection drops that "
                "copy, the later copy a pipeline run at these thresholds would keep is not in the source"
            )
    return None


def _score_summary(shards: list[Path], after: list[np.ndarray], out: Path, selection: dict[str, Any]) -> None:
    """quality_classifier.json for the report: the scores the source held, and those kept."""
    if SCORE_COLUMN not in pq.read_schema(shards[0]).names:
        return
    scores = [
        pq.read_table(s, columns=[SCORE_COLUMN]).column(SCORE_COLUMN).to_numpy(zero_copy_only=False) for s in shards
    ]
    all_scores = np.concatenate(scores).astype(np.float64)
    kept = np.concatenate(after)
    valid = ~np.isnan(all_scores)
    write_score_summary(
        out / summary_file("quality_classifier"),
        all_scores[valid],
        kept[valid],
        {"stage": "select", "select": "where" if selection["top"] is None else "top", "value": selection},
    )


def _read_json(path: Path) -> dict[str, Any]:
    try:
        data = json.loads(path.read_text())
    except (OSError, ValueError):
        return {}
    return data if isinstance(data, dict) else {}


def _read_yaml(path: Path) -> dict[str, Any]:
    import yaml

    try:
        data = yaml.safe_load(path.read_text())
    except (OSError, yaml.YAMLError):
        return {}
    return data if isinstance(data, dict) else {}
