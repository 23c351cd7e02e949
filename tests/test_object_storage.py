"""Pipeline output on object storage (issue 8): `output: s3://...` gives the same bytes as a
local folder, and a rerun resumes from the completion markers there.

The S3 endpoint is moto's server on 127.0.0.1 (tests/s3_server.py); the client is pyarrow's
real S3 filesystem. Inputs are the real article pages in two WARC files that share five pages,
so exact and MinHash dedup find cross-file duplicates; the pipeline is
pipelines/massivetext.yaml, with every global stage.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import yaml
from conftest import ROOT, write_warc
from s3_server import read_tree

from corpusforge.cli import main
from corpusforge.io.paths import RemotePath

pytestmark = pytest.mark.usefixtures("repo_root")


@pytest.fixture
def repo_root(monkeypatch):
    monkeypatch.chdir(ROOT)  # the pipeline's test-set paths are relative to the repo root


@pytest.fixture(scope="module")
def config_file(tmp_path_factory, article_pages) -> Path:
    folder = tmp_path_factory.mktemp("s3-in")
    pages = [(url, payload, ctype) for url, ctype, payload in article_pages]
    write_warc(folder / "articles-a.warc.gz", pages[0:14])
    write_warc(folder / "articles-b.warc.gz", pages[9:22])  # pages 9-13 in both files
    data = yaml.safe_load((ROOT / "pipelines" / "massivetext.yaml").read_text())
    data |= {"input": str(folder / "*.warc.gz"), "workers": 2, "rejected": 3}
    path = folder / "pipeline.yaml"
    path.write_text(yaml.safe_dump(data))
    return path


@pytest.fixture(scope="module")
def local_files(config_file, tmp_path_factory) -> dict[str, bytes]:
    out = tmp_path_factory.mktemp("local") / "out"
    with pytest.MonkeyPatch.context() as mp:
        mp.chdir(ROOT)
        assert main(["run", str(config_file), "--output", str(out), "--quiet", "--no-report"]) == 0
    return {str(p.relative_to(out)): p.read_bytes() for p in sorted(out.rglob("*")) if p.is_file()}


def corpus(files: dict[str, bytes]) -> dict[str, bytes]:
    """What must be byte-identical: the shards, the contamination report, the rejected sample."""
    return {k: v for k, v in files.items() if k.startswith(("data/", "rejected/")) or k == "contamination.json"}


def counts(files: dict[str, bytes]) -> list:
    return [(s["name"], s["in"], s["out"], s["dropped"]) for s in json.loads(files["stats.json"])["stages"]]


def test_output_on_s3_is_the_same_corpus(config_file, local_files, s3):
    assert main(["run", str(config_file), "--output", s3, "--quiet"]) == 0
    remote = read_tree(s3)
    assert len([k for k in local_files if k.startswith("data/")]) == 2
    assert corpus(remote) == corpus(local_files)
    assert counts(remote) == counts(local_files)
    stats = {name: dropped for name, _, _, dropped in counts(remote)}
    assert stats["exact_dedup"] or stats["minhash_dedup"], "the shared pages are found as duplicates"
    assert {"config.yaml", "stats.json", "report.html"} <= remote.keys()
    assert b"Languages" in remote["report.html"] and b"could not be built" not in remote["report.html"]
    assert any(k.startswith("work/markers/") for k in remote)
    assert not [k for k in remote if k.endswith(".tmp")], "temporary files stay local"


def test_a_rerun_on_s3_redoes_only_what_is_missing(config_file, local_files, s3, capsys):
    assert main(["run", str(config_file), "--output", s3, "--quiet", "--no-report"]) == 0
    out = RemotePath(s3)
    final = sorted(p for p in (out / "work" / "markers").iterdir())[-1]  # the last phase writes data/
    (final / "task-00001.json").unlink()
    (out / "data" / "part-00001-0000.parquet").unlink()
    before = {k: v for k, v in read_tree(s3).items() if k.startswith("work/markers/")}
    assert main(["run", str(config_file), "--output", s3, "--no-report"]) == 0
    after = read_tree(s3)
    assert corpus(after) == corpus(local_files)
    redone = [k for k in after if k.startswith("work/markers/") and k not in before]
    assert redone == [f"{final.relative_to(out)}/task-00001.json"]

    capsys.readouterr()
    assert main(["run", str(config_file), "--output", s3, "--no-report"]) == 0
    assert "already complete" in capsys.readouterr().err


def test_a_changed_config_on_s3_needs_overwrite(config_file, tmp_path, s3, capsys):
    assert main(["run", str(config_file), "--output", s3, "--quiet", "--no-report"]) == 0
    data = yaml.safe_load(config_file.read_text())
    data["stages"] = [s for s in data["stages"] if (s if isinstance(s, str) else next(iter(s))) != "minhash_dedup"]
    changed = tmp_path / "changed.yaml"
    changed.write_text(yaml.safe_dump(data))
    capsys.readouterr()
    assert main(["run", str(changed), "--output", s3, "--quiet", "--no-report"]) != 0
    assert f"{s3} holds a run made with a different config" in capsys.readouterr().err
    assert main(["run", str(changed), "--output", s3, "--quiet", "--no-report", "--overwrite"]) == 0
    remote = read_tree(s3)
    assert not [k for k in remote if "minhash" in k], "--overwrite removed the old run's work files"
    assert "minhash_dedup" not in [name for name, *_ in counts(remote)]


def test_test_sets_on_s3_read_like_local_files(s3):
    """Decontamination test sets may live in the bucket too: the same checks and items."""
    from pyarrow import fs

    from corpusforge.stages.decontamination.testsets import check, parse_test_sets, read_items

    local = ROOT.parent / "shared" / "data" / "evalsets" / "humaneval.jsonl.gz"
    if not local.is_file():
        pytest.skip(f"{local} not found (clone with ../shared beside the repo)")
    filesystem, key = fs.FileSystem.from_uri(f"{s3}/humaneval.jsonl.gz")
    with filesystem.open_output_stream(key, compression=None) as f:  # as is, not gzipped again
        f.write(local.read_bytes())
    fields = ["prompt", "canonical_solution"]
    remote, here = parse_test_sets(
        [
            {"name": "remote", "path": f"{s3}/humaneval.jsonl.gz", "fields": fields},
            {"name": "h", "path": str(local), "fields": fields},
        ]
    )
    check(remote)
    assert list(read_items(remote)) == list(read_items(here))
    missing = parse_test_sets([{"name": "h", "path": f"{s3}/nothing.jsonl", "fields": fields}])[0]
    with pytest.raises(ValueError, match=r"test set 'h' \(s3://.*/nothing.jsonl\): file not found"):
        check(missing)


def test_a_missing_bucket_is_a_clear_error(config_file, s3, capsys):
    assert main(["run", str(config_file), "--output", "s3://no-such-bucket/out", "--quiet", "--no-report"]) != 0
    err = capsys.readouterr().err
    assert "output s3://no-such-bucket/out: cannot be read or written" in err and "Traceback" not in err


def test_tokenize_reads_and_writes_object_storage(s3, tmp_path):
    """Parquet shards in the bucket → token shards in the bucket: the same bytes as local to
    local; a rerun there resumes from its markers; the trainer's loader asks for a local copy."""
    from pyarrow import fs
    from tokenizer_data import extracted_shards, trained

    from corpusforge.errors import TokenizerError
    from corpusforge.tokenizer.shards import TokenShards
    from corpusforge.tokenizer.tokenize import tokenize

    tok = trained("bpe-50k", 2000)
    shards = sorted(extracted_shards().glob("*.parquet"))
    filesystem, key = fs.FileSystem.from_uri(f"{s3}/corpus")
    for p in shards:
        with filesystem.open_output_stream(f"{key}/{p.name}", compression=None) as f:
            f.write(p.read_bytes())
    settings = {"workers": 2, "val_fraction": 0.1, "seed": 3, "quiet": True}
    local = tokenize(tok, [str(p) for p in shards], tmp_path / "local", **settings)
    remote = tokenize(tok, [f"{s3}/corpus/*.parquet"], f"{s3}/tokens", **settings)
    assert remote["train"] == local["train"] and remote["val"] == local["val"]
    expected = {
        str(p.relative_to(tmp_path / "local")): p.read_bytes()
        for p in sorted((tmp_path / "local").rglob("*"))
        if p.is_file() and p.parent.name in ("train", "val")
    }
    got = read_tree(f"{s3}/tokens")
    assert any(k.startswith("val/") for k in expected)

    def comparable(files: dict[str, bytes]) -> dict[str, object]:  # headers name their source
        return {k: {**json.loads(v), "source": None} if k.endswith(".json") else v for k, v in files.items()}

    assert comparable({k: got.get(k) for k in expected}) == comparable(expected)
    assert tokenize(tok, [f"{s3}/corpus/*.parquet"], f"{s3}/tokens", **settings)["tasks_run"] == 0
    with pytest.raises(TokenizerError, match="must be in a local"):
        TokenShards(f"{s3}/tokens")
