"""The fastText quality classifier: train-classifier, the quality_classifier stage, select."""

from __future__ import annotations

import hashlib
import json
import math
import random
from pathlib import Path

import numpy as np
import pyarrow.parquet as pq
import pytest
from conftest import SHARED

from corpusforge.classifier.documents import chunk
from corpusforge.classifier.train import Settings, roc_auc, train_classifier
from corpusforge.cli import main
from corpusforge.engine.config import load_config
from corpusforge.engine.runner import run_pipeline
from corpusforge.errors import ClassifierError, ConfigError
from corpusforge.io.plain_text import zip_documents
from corpusforge.select import dedup_after_warning, select
from corpusforge.where import WhereError

TEXT = SHARED / "text"
REFERENCE = ["brown.zip", "abc.zip", "state_union.zip", "inaugural.zip"]
CRAWL_LIKE = ["webtext.zip"]
SMALL = Settings(dim=32, epoch=10, lr=0.5, bucket=50_000, max_docs=800, chunk_words=100, seed=0)


def _text(name: str) -> str:
    path = TEXT / name
    if not path.is_file():
        pytest.skip(f"real text data not found at {path} (clone with ../shared beside the repo)")
    return str(path)


@pytest.fixture(scope="module")
def model(tmp_path_factory) -> tuple[Path, dict]:
    out = tmp_path_factory.mktemp("clf") / "model"
    card = train_classifier([_text(n) for n in REFERENCE], [_text(n) for n in CRAWL_LIKE], out, SMALL)
    return out, card


@pytest.fixture(scope="module")
def inputs(tmp_path_factory) -> str:
    """900 documents of about 100 words, reference and crawl-like mixed, in three JSONL files."""
    folder = tmp_path_factory.mktemp("docs")
    docs = [
        {"id": f"{name}#{k}", "text": piece}
        for z in ("inaugural.zip", "webtext.zip")
        for name, text in zip_documents(_text(z))
        for k, piece in enumerate(chunk(text, 100))
    ]
    random.Random(0).shuffle(docs)
    for f in range(3):
        (folder / f"in-{f}.jsonl").write_text("".join(json.dumps(d) + "\n" for d in docs[:900][f::3]))
    return str(folder / "in-*.jsonl")


def _run(inputs: str, out: Path, model: Path, workers: int = 1, gopher: str | None = None, **keys) -> Path:
    stages = ["jsonl_reader"] + ([{"gopher_quality": {"mode": gopher}}] if gopher else [])
    stages += [{"quality_classifier": {"model_path": str(model), **keys}}, "parquet_writer"]
    run_pipeline(
        load_config(data={"input": inputs, "output": str(out), "workers": workers, "stages": stages}), quiet=True
    )
    return out


def _table(out: Path):
    return pq.read_table(sorted((out / "data").glob("*.parquet")))


def _ids(out: Path) -> list[str]:
    return _table(out).column("id").to_pylist()


# --- train-classifier ------------------------------------------------------------------------


def test_heldout_split_is_separated(model):
    """Reference prose (books, news, speeches) against forum posts, chat and ads: the held-out
    pieces, never trained on, are told apart far above chance (0.5). Measured: AUC 0.99."""
    _, card = model
    m = card["heldout_metrics"]
    assert card["documents"]["heldout_per_side"] == {"positive": 80, "negative": 80}
    assert card["documents"]["train_per_side"] == {"positive": 720, "negative": 720}
    assert m["roc_auc"] > 0.9
    assert m["f1"] > 0.8


def test_card_and_same_bytes(model, tmp_path):
    out, card = model
    again = train_classifier([_text(n) for n in REFERENCE], [_text(n) for n in CRAWL_LIKE], tmp_path / "m", SMALL)
    assert (out / "model.bin").read_bytes() == (tmp_path / "m" / "model.bin").read_bytes()
    assert again["heldout_metrics"] == card["heldout_metrics"]
    first = card["positive"]["inputs"][0]
    assert first["sha256"] == hashlib.sha256(Path(first["path"]).read_bytes()).hexdigest()
    assert first["bytes"] == Path(first["path"]).stat().st_size
    assert card["settings"]["word_ngrams"] == 2 and card["settings"]["thread"] == 1
    assert card["versions"]["fasttext"]
    assert json.loads((out / "card.json").read_text()) == card


def test_roc_auc_counts_pairs():
    rng = np.random.default_rng(0)
    labels = rng.random(300) < 0.4
    scores = np.round(rng.random(300) + labels * 0.3, 1)  # many ties
    pos, neg = scores[labels], scores[~labels]
    pairs = (pos[:, None] > neg[None, :]).mean() + 0.5 * (pos[:, None] == neg[None, :]).mean()
    assert roc_auc(labels, scores) == pytest.approx(pairs, abs=1e-12)


def test_brown_tags_are_stripped():
    name, text = next(zip_documents(_text("brown.zip")))
    assert name == "brown.zip/brown/ca01"
    assert text.split()[:4] == ["The", "Fulton", "County", "Grand"]


# --- the stage --------------------------------------------------------------------------------


def test_pareto_keeps_the_analytic_fraction_and_the_same_documents(model, inputs, tmp_path):
    path, _ = model
    annotated = _run(inputs, tmp_path / "ann", path, select="pareto", alpha=3.0, mode="annotate")
    table = _table(annotated)
    scores = np.array(table.column("quality_score").to_pylist())
    kept_annotated = [
        i
        for i, r in zip(table.column("id").to_pylist(), table.column("quality_classifier_reason").to_pylist())
        if r is None
    ]
    p = (2.0 - scores) ** -3.0  # P(pareto(3) > 1 - s)
    one = _ids(_run(inputs, tmp_path / "w1", path, select="pareto", alpha=3.0))
    two = _ids(_run(inputs, tmp_path / "w2", path, workers=2, select="pareto", alpha=3.0))
    assert one == two == kept_annotated
    assert abs(len(one) - p.sum()) < 4 * math.sqrt((p * (1 - p)).sum())
    assert 0 < len(one) < len(scores)
    reseeded = _ids(_run(inputs, tmp_path / "s1", path, select="pareto", alpha=3.0, seed=1))
    assert reseeded != one


def test_top_fraction_keeps_exactly_the_best(model, inputs, tmp_path):
    path, _ = model
    one = _run(inputs, tmp_path / "w1", path, select="top_fraction", fraction=0.3)
    two = _run(inputs, tmp_path / "w2", path, workers=2, select="top_fraction", fraction=0.3)
    assert _ids(one) == _ids(two)
    assert len(_ids(one)) == math.ceil(0.3 * 900) == 270
    everything = _table(_run(inputs, tmp_path / "all", path, select="threshold", threshold=0.0))
    kept = set(_ids(one))
    scores = dict(zip(everything.column("id").to_pylist(), everything.column("quality_score").to_pylist()))
    assert min(scores[i] for i in kept) >= max(s for i, s in scores.items() if i not in kept)
    summary = json.loads((one / "quality_classifier.json").read_text())
    assert summary["documents"] == 900 and summary["kept"] == 270
    assert sum(summary["before"]) == 900 and sum(summary["after"]) == 270
    from corpusforge.report import build_report

    page = build_report(one)
    section = page[page.index('id="quality"') :][:3000]
    assert "the top 0.3 of all scores" in section and "<dd>30.0%</dd>" in section and "data:image/png" in section


# --- select -----------------------------------------------------------------------------------


def test_select_equals_the_pipeline_at_those_thresholds(model, inputs, tmp_path):
    path, _ = model
    annotated = _run(inputs, tmp_path / "ann", path, gopher="annotate", mode="annotate")
    where = "gopher_quality_reason IS NULL AND quality_score >= 0.6"
    stats = select(annotated, tmp_path / "sel", where=where, quiet=True, report=False)
    direct = _run(inputs, tmp_path / "direct", path, gopher="drop", threshold=0.6)
    assert _ids(tmp_path / "sel") == _ids(direct)
    assert 0 < len(_ids(direct)) < 900
    step = next(s for s in stats["stages"] if s["name"] == "select")
    assert step["in"] == 900 and step["dropped"]["select:where"] == 900 - len(_ids(direct))
    saved = json.loads(json.dumps(__import__("yaml").safe_load((tmp_path / "sel" / "config.yaml").read_text())))
    assert saved["select"]["where"] == where and saved["select"]["source"] == str(annotated.resolve())

    assert (
        main(
            [
                "select",
                str(annotated),
                "--top",
                "quality_score:0.3",
                "--output",
                str(tmp_path / "top"),
                "--quiet",
                "--no-report",
            ]
        )
        == 0
    )
    top = _run(inputs, tmp_path / "topdirect", path, workers=2, gopher="annotate", select="top_fraction", fraction=0.3)
    assert _ids(tmp_path / "top") == _ids(top)


def test_select_warns_when_a_dedup_ran_after_the_columns_it_cuts_on():
    stages = [
        "jsonl_reader",
        {"gopher_quality": {"mode": "annotate"}},
        {"quality_classifier": {"mode": "annotate"}},
        {"minhash_dedup": {}},
        "parquet_writer",
    ]
    warning = dedup_after_warning(stages, ["quality_score"])
    assert warning and "minhash_dedup after quality_classifier (which wrote quality_score)" in warning
    assert "gopher_quality" in (dedup_after_warning(stages, ["gopher_quality_reason"]) or "")
    # a dedup before the decisions re-cut sees the same documents either way
    assert dedup_after_warning([stages[0], stages[3], stages[1], stages[2]], ["quality_score"]) is None
    assert dedup_after_warning(stages, ["url"]) is None


# --- bad input --------------------------------------------------------------------------------


def test_bad_inputs(model, inputs, tmp_path):
    path, _ = model
    (tmp_path / "empty.jsonl").write_text("")
    with pytest.raises(ClassifierError, match=r"--negative: 0 non-empty document\(s\) in .*empty.jsonl"):
        train_classifier([_text("inaugural.zip")], [str(tmp_path / "empty.jsonl")], tmp_path / "m1", SMALL)
    (tmp_path / "broken.zip").write_bytes(b"not a zip at all")
    with pytest.raises(ClassifierError, match=r"broken.zip: cannot be read"):
        train_classifier([str(tmp_path / "broken.zip")], [_text("webtext.zip")], tmp_path / "m2", SMALL)
    with pytest.raises(ClassifierError, match=r"--positive: nothing matches"):
        train_classifier([str(tmp_path / "none-*.txt")], [_text("webtext.zip")], tmp_path / "m3", SMALL)
    assert not (tmp_path / "m1").exists() and not (tmp_path / "m2").exists()

    def config(**keys):
        return {
            "input": inputs,
            "output": str(tmp_path / "o"),
            "stages": ["jsonl_reader", {"quality_classifier": keys}, "parquet_writer"],
        }

    with pytest.raises(ConfigError, match=r"quality_classifier: model_path: .*no-model.*no such file"):
        load_config(data=config(model_path=str(tmp_path / "no-model")))
    from corpusforge.stages.filters.language import packaged_model_path

    with pytest.raises(ConfigError, match=r"labels are \['__label__af'"):
        load_config(data=config(model_path=str(packaged_model_path())))
    with pytest.raises(ConfigError, match=r"top_fraction needs 'fraction'"):
        load_config(data=config(model_path=str(path), select="top_fraction"))

    annotated = _run(inputs, tmp_path / "ann", path, mode="annotate")
    with pytest.raises(WhereError, match=r"'gopher_quality_reason'.*lacks"):
        select(annotated, tmp_path / "sel", where="gopher_quality_reason IS NULL AND quality_score >= 0.3")
    with pytest.raises(WhereError, match=r"expected"):
        select(annotated, tmp_path / "sel", where="quality_score >=")
    assert not (tmp_path / "sel").exists()


def test_shipped_pile_cc_config(model, inputs, tmp_path):
    """pipelines/pile-cc.yaml validates once its model exists; the classifier runs in the
    first streaming phase (pareto is not global), MinHash at 10 permutations and Jaccard 0.5."""
    import yaml
    from conftest import ROOT

    from corpusforge.engine.planner import describe_phases, plan_phases

    data = yaml.safe_load((ROOT / "pipelines" / "pile-cc.yaml").read_text())
    data["stages"][3]["quality_classifier"]["model_path"] = str(model[0])
    config = load_config(
        data=data, inputs=[str(SHARED / "warc" / "cc-sample-0000.warc.gz")], output=str(tmp_path / "o")
    )
    args = {s.name: s.args for s in config.stages}
    assert args["quality_classifier"]["select"] == "pareto" and args["quality_classifier"]["alpha"] == 3.0
    assert args["minhash_dedup"]["num_perm"] == 10 and args["minhash_dedup"]["threshold"] == 0.5
    assert "language → quality_classifier → minhash_dedup.prepare" in describe_phases(config, plan_phases(config))


def test_pareto_draw_has_numpys_distribution():
    """P(pareto(a) > t) = (1 + t)^-a for numpy's draws and for ours, hashed from the ids."""
    from corpusforge.stages.filters.quality_classifier import pareto_draw

    ours = np.array([pareto_draw(f"<urn:uuid:{i}>", 3.0, 0) for i in range(40_000)])
    theirs = np.random.default_rng(0).pareto(3.0, 40_000)
    for t in (0.05, 0.2, 0.5, 1.0):
        expected = (1 + t) ** -3.0
        bound = 4 * math.sqrt(expected * (1 - expected) / 40_000)
        assert abs((ours > t).mean() - expected) < bound
        assert abs((theirs > t).mean() - expected) < bound
    assert pareto_draw("a", 3.0, 0) == pareto_draw("a", 3.0, 0) != pareto_draw("a", 3.0, 1)
