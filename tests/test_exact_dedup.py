"""Exact dedup as a global stage: phases, first occurrence kept, resume between phases."""

from __future__ import annotations

import json
from pathlib import Path

import pyarrow.parquet as pq

from corpusforge.engine.config import load_config
from corpusforge.engine.planner import GlobalPhase, StreamPhase, plan_phases
from corpusforge.engine.runner import run_pipeline


def write_jsonl(path: Path, texts: list[str], prefix: str) -> Path:
    path.write_text("".join(json.dumps({"id": f"{prefix}-{i}", "text": t}) + "\n" for i, t in enumerate(texts)))
    return path


def config(inputs, out, workers=2, **dedup) -> dict:
    return {
        "input": [str(p) for p in inputs],
        "output": str(out),
        "workers": workers,
        "rejected": 2,
        "stages": ["jsonl_reader", {"exact_dedup": {"partitions": 4, **dedup}}, "parquet_writer"],
    }


def make_inputs(tmp_path: Path, paras: list[str]) -> list[Path]:
    seen: set[str] = set()
    unique = [p for p in paras if not (" ".join(p.lower().split()) in seen or seen.add(" ".join(p.lower().split())))]
    a, b, c = unique[:100], unique[100:200], unique[200:300]
    # file 1 repeats 30 of file 0 verbatim and 10 with other case and whitespace; file 2
    # repeats 20 of file 1 and holds 10 near duplicates (one word changed), which must stay
    variants = [p.upper().replace(" ", "  \n ") for p in a[30:40]]
    near = [p.replace(" the ", " a ", 1) + " (near)" for p in b[50:60]]
    return [
        write_jsonl(tmp_path / "0.jsonl", a, "zero"),
        write_jsonl(tmp_path / "1.jsonl", b + a[:30] + variants, "one"),
        write_jsonl(tmp_path / "2.jsonl", c + b[:20] + near + [c[0]], "two"),
    ]


def test_plan_cuts_at_the_global_stage(tmp_path, speech_paragraphs):
    cfg = load_config(data=config(make_inputs(tmp_path, speech_paragraphs), tmp_path / "o"))
    phases = plan_phases(cfg)
    assert [type(p) for p in phases] == [StreamPhase, GlobalPhase, StreamPhase]
    assert phases[0].prepare_global == 1 and phases[2].apply_global == 1 and phases[2].final


def test_first_occurrence_kept_duplicates_counted(tmp_path, speech_paragraphs):
    out = tmp_path / "out"
    stats = run_pipeline(load_config(data=config(make_inputs(tmp_path, speech_paragraphs), out)), quiet=True)
    dedup = next(s for s in stats if s.name == "exact_dedup")
    assert dedup.docs_in == 100 + 140 + 131
    assert dedup.dropped == {"exact_dedup:duplicate": 30 + 10 + 20 + 1}
    ids = set(pq.read_table(out / "data")["id"].to_pylist())
    assert {f"zero-{i}" for i in range(100)} <= ids  # the first file keeps everything
    assert not {f"one-{100 + i}" for i in range(40)} & ids  # its copies in file 1 are gone
    assert {f"two-{120 + i}" for i in range(10)} <= ids  # near duplicates are not exact ones
    assert "two-0" in ids and "two-130" not in ids  # a repeat within one task: the later row goes
    texts = pq.read_table(out / "data")["text"].to_pylist()
    assert len(texts) == len(set(texts))
    sample = (out / "rejected" / "exact_dedup-duplicate.jsonl").read_text().splitlines()
    assert len(sample) == 2
    summary = json.loads((out / "exact_dedup.json").read_text())  # written by finish() for the report
    assert summary == {
        "stage": "exact_dedup",
        "documents": dedup.docs_in,
        "duplicates": sum(dedup.dropped.values()),
        "cluster_sizes": {"2": 61},
    }
    assert summary["documents"] - summary["duplicates"] == len(texts)


def test_a_repeated_stage_writes_its_summary_under_its_label(tmp_path, speech_paragraphs):
    out = tmp_path / "out"
    cfg = config(make_inputs(tmp_path, speech_paragraphs), out)
    cfg["stages"].insert(2, {"exact_dedup": {"partitions": 2}})
    stats = run_pipeline(load_config(data=cfg), quiet=True)
    assert [s.name for s in stats][1:3] == ["exact_dedup", "exact_dedup#2"]
    first, second = (json.loads((out / f"{label}.json").read_text()) for label in ("exact_dedup", "exact_dedup#2"))
    assert first["duplicates"] == 61 and first["documents"] - 61 == second["documents"]
    assert second["duplicates"] == 0 and second["cluster_sizes"] == {}


def test_annotate_keeps_and_marks(tmp_path, speech_paragraphs):
    out = tmp_path / "out"
    run_pipeline(load_config(data=config(make_inputs(tmp_path, speech_paragraphs), out, mode="annotate")), quiet=True)
    table = pq.read_table(out / "data")
    assert table.num_rows == 371
    assert table["exact_dedup_reason"].to_pylist().count("duplicate") == 61


def test_workers_and_resume_between_phases_give_the_same_shards(tmp_path, speech_paragraphs):
    inputs = make_inputs(tmp_path, speech_paragraphs)
    run_pipeline(load_config(data=config(inputs, tmp_path / "w1", workers=1)), quiet=True)
    out = tmp_path / "w2"
    run_pipeline(load_config(data=config(inputs, out, workers=2)), quiet=True)
    digest = lambda o: {p.name: p.read_bytes() for p in sorted((o / "data").glob("*.parquet"))}  # noqa: E731
    reference = digest(out)
    assert digest(tmp_path / "w1") == reference

    # as if killed after the first streaming phase: later phases' markers and outputs gone
    import shutil

    for name in ("01-exact_dedup-find", "02-stream"):
        shutil.rmtree(out / "work" / "markers" / name)
    shutil.rmtree(out / "data")
    shutil.rmtree(out / "work" / "stage-01-exact_dedup" / "duplicates")
    run_pipeline(load_config(data=config(inputs, out, workers=2)), quiet=True)
    assert digest(out) == reference
