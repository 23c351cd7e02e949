"""A task sets up only the stages it runs: a global step (run in the driver when it has one
task) does not load models of stages it never calls; a streaming task sets up its phase's."""

from __future__ import annotations

import json

from corpusforge.engine import tasks
from corpusforge.engine.config import load_config
from corpusforge.engine.planner import GlobalPhase, StreamPhase, job_stages, plan_phases
from corpusforge.engine.runner import run_pipeline
from corpusforge.stages.filters.language import LanguageFilter


def config(tmp_path, workers=1):
    tmp_path.mkdir(parents=True, exist_ok=True)
    docs = tmp_path / "docs.jsonl"
    text = "The committee met on Tuesday to discuss the new budget for the public library. " * 5
    docs.write_text("".join(json.dumps({"id": str(i), "text": f"{text} {i % 3}"}) + "\n" for i in range(6)))
    return load_config(
        data={
            "input": [str(docs)],
            "output": str(tmp_path / "out"),
            "workers": workers,
            "stages": ["jsonl_reader", {"language": {"languages": ["en"]}}, "exact_dedup", "parquet_writer"],
        }
    )


def test_each_phase_sets_up_its_own_stages(tmp_path):
    cfg = config(tmp_path)
    phases = plan_phases(cfg)
    first, last = phases[0], phases[-1]
    assert isinstance(first, StreamPhase) and isinstance(last, StreamPhase)
    assert sorted(tasks._phase_stages(first, 4)) == [0, 1, 2]  # reader, language, exact_dedup.prepare
    assert sorted(tasks._phase_stages(last, 4)) == [2, 3]  # exact_dedup.run, writer
    assert any(isinstance(p, GlobalPhase) for p in phases)

    js = job_stages(cfg)
    js.key = f"test-{tmp_path}"  # a pipeline this process has not set up
    stages = tasks.ready_stages(js, [2])  # what a global step of exact_dedup asks for
    language = stages[1]
    assert isinstance(language, LanguageFilter)
    assert language._model is None  # lid.176 not loaded for a dedup step
    assert tasks.ready_stages(js, tasks._phase_stages(first, 4)) is stages
    assert language._model is not None


def test_inline_run_gives_the_same_corpus(tmp_path):
    one = run_pipeline(config(tmp_path / "a"), quiet=True)
    two = run_pipeline(config(tmp_path / "b", workers=2), quiet=True)
    assert [(s.name, s.docs_out, dict(s.dropped)) for s in one] == [(s.name, s.docs_out, dict(s.dropped)) for s in two]
    assert next(s for s in one if s.name == "exact_dedup").docs_out == 3
