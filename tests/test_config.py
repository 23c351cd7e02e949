"""Bad configs fail before any work, with one message naming the key or path."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from corpusforge.cli import main
from corpusforge.config import load_config
from corpusforge.errors import ConfigError

ROOT = Path(__file__).resolve().parent.parent


@pytest.fixture
def warc_file(tmp_path: Path) -> str:
    p = tmp_path / "x.warc.gz"
    p.write_bytes(b"")
    return str(p)


def cfg(warc_file: str, tmp_path: Path, stages=None, **top) -> dict:
    data = {"input": warc_file, "output": str(tmp_path / "out"),
            "stages": stages or ["warc_reader", "trafilatura", "parquet_writer"]}
    data.update(top)
    return data


@pytest.mark.parametrize(
    "stages, top, message",
    [
        (["warc_reader", "trafilatur", "parquet_writer"], {}, "stages[1]: unknown stage 'trafilatur'"),
        (["warc_reader", {"trafilatura": {"favour_precision": True}}, "parquet_writer"], {},
         "stages[1].trafilatura: unknown key(s) ['favour_precision']"),
        (["warc_reader", {"trafilatura": {"max_html_bytes": "big"}}, "parquet_writer"], {},
         "stages[1].trafilatura.max_html_bytes: expected int, got 'big'"),
        (["warc_reader", {"trafilatura": {"favor_precision": "yes"}}, "parquet_writer"], {},
         "stages[1].trafilatura.favor_precision: expected bool"),
        (["warc_reader", {"trafilatura": {"favor_precision": True, "favor_recall": True}}, "parquet_writer"], {},
         "stages[1].trafilatura: favor_precision and favor_recall exclude each other"),
        (["trafilatura", "parquet_writer"], {}, "stages[0]: the first stage must be a reader"),
        (["warc_reader", "trafilatura"], {}, "the last stage must be parquet_writer"),
        (["warc_reader", "parquet_writer", "parquet_writer"], {}, "stages[1]: parquet_writer may only be"),
        ([{"warc_reader": {}, "trafilatura": {}}, "parquet_writer"], {}, "stages[0]: a stage is a name or a one-key mapping"),
        (None, {"worker": 2}, "unknown key(s) ['worker']"),
        (None, {"workers": 0}, "'workers' must be a positive integer"),
        (None, {"input": "/nonexistent/*.warc.gz"}, "input: no file matches '/nonexistent/*.warc.gz'"),
    ],
)
def test_bad_config_names_the_key(warc_file, tmp_path, stages, top, message):
    with pytest.raises(ConfigError) as err:
        load_config(data=cfg(warc_file, tmp_path, stages, **top))
    assert message in str(err.value)
    assert not (tmp_path / "out").exists(), "no work may start before the config is valid"


def test_cli_reports_config_error_without_traceback(tmp_path, warc_file, capsys):
    path = tmp_path / "bad.yaml"
    path.write_text(yaml.safe_dump(cfg(warc_file, tmp_path, ["warc_reader", {"trafilatura": {"fast": 3}}, "parquet_writer"])))
    assert main(["run", str(path)]) == 2
    err = capsys.readouterr().err
    assert err.startswith("error: stages[1].trafilatura.fast: expected bool, got 3")
    assert "Traceback" not in err


def test_missing_config_file_and_bad_yaml(tmp_path):
    with pytest.raises(ConfigError, match="config file not found"):
        load_config(tmp_path / "nope.yaml")
    bad = tmp_path / "bad.yaml"
    bad.write_text("stages: [warc_reader\n")
    with pytest.raises(ConfigError, match="not valid YAML"):
        load_config(bad)


def test_defaults_are_resolved_into_the_hash(warc_file, tmp_path):
    a = load_config(data=cfg(warc_file, tmp_path))
    b = load_config(data=cfg(warc_file, tmp_path, ["warc_reader", {"trafilatura": {"favor_precision": False}}, "parquet_writer"]))
    c = load_config(data=cfg(warc_file, tmp_path, ["warc_reader", {"trafilatura": {"favor_precision": True}}, "parquet_writer"]))
    assert a.hash() == b.hash() != c.hash()
    assert a.stages[1].args["max_html_bytes"] == 5_000_000
    # workers do not change the output, so they do not change the hash
    assert load_config(data=cfg(warc_file, tmp_path, workers=1)).hash() == a.hash()


@pytest.mark.parametrize("name", ["massivetext.yaml", "extract-only.yaml"])
def test_shipped_pipelines_validate(name, tmp_path, warc_file, monkeypatch):
    monkeypatch.chdir(ROOT)  # the configs' paths are relative to the repo root
    if "decontaminate" in (ROOT / "pipelines" / name).read_text() and not (ROOT.parent / "shared" / "data" / "evalsets").is_dir():
        pytest.skip("the config decontaminates against ../shared/data/evalsets, which is absent")
    config = load_config(ROOT / "pipelines" / name, inputs=[warc_file], output=str(tmp_path / "o"))
    assert config.stages[0].name == "warc_reader"
