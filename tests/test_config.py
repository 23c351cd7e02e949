"""Bad configs fail before any work, with one message naming the key or path."""

from __future__ import annotations

import hashlib
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from corpusforge.cli import main
from corpusforge.engine.config import load_config
from corpusforge.engine.stage import stage_labels
from corpusforge.errors import ConfigError
from corpusforge.io.paths import RemotePath

ROOT = Path(__file__).resolve().parent.parent


@pytest.fixture
def warc_file(tmp_path: Path) -> str:
    p = tmp_path / "x.warc.gz"
    p.write_bytes(b"")
    return str(p)


def cfg(warc_file: str, tmp_path: Path, stages=None, **top) -> dict:
    data = {
        "input": warc_file,
        "output": str(tmp_path / "out"),
        "stages": stages or ["warc_reader", "trafilatura", "parquet_writer"],
    }
    data.update(top)
    return data


@pytest.mark.parametrize(
    "stages, top, message",
    [
        (["warc_reader", "trafilatur", "parquet_writer"], {}, "stages[1]: unknown stage 'trafilatur'"),
        (
            ["warc_reader", {"trafilatura": {"favour_precision": True}}, "parquet_writer"],
            {},
            "stages[1].trafilatura: unknown key(s) ['favour_precision']",
        ),
        (
            ["warc_reader", {"trafilatura": {"max_html_bytes": "big"}}, "parquet_writer"],
            {},
            "stages[1].trafilatura.max_html_bytes: expected int, got 'big'",
        ),
        (
            ["warc_reader", {"trafilatura": {"favor_precision": "yes"}}, "parquet_writer"],
            {},
            "stages[1].trafilatura.favor_precision: expected bool",
        ),
        (
            ["warc_reader", {"trafilatura": {"favor_precision": True, "favor_recall": True}}, "parquet_writer"],
            {},
            "stages[1].trafilatura: favor_precision and favor_recall exclude each other",
        ),
        (["trafilatura", "parquet_writer"], {}, "stages[0]: the first stage must be a reader"),
        (["warc_reader", "trafilatura"], {}, "the last stage must be parquet_writer"),
        (["warc_reader", "parquet_writer", "parquet_writer"], {}, "stages[1]: parquet_writer may only be"),
        (
            [{"warc_reader": {}, "trafilatura": {}}, "parquet_writer"],
            {},
            "stages[0]: a stage is a name or a one-key mapping",
        ),
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
    path.write_text(
        yaml.safe_dump(cfg(warc_file, tmp_path, ["warc_reader", {"trafilatura": {"fast": 3}}, "parquet_writer"]))
    )
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
    b = load_config(
        data=cfg(warc_file, tmp_path, ["warc_reader", {"trafilatura": {"favor_precision": False}}, "parquet_writer"])
    )
    c = load_config(
        data=cfg(warc_file, tmp_path, ["warc_reader", {"trafilatura": {"favor_precision": True}}, "parquet_writer"])
    )
    assert a.hash() == b.hash() != c.hash()
    assert a.stages[1].args["max_html_bytes"] == 5_000_000
    # workers do not change the output, so they do not change the hash
    assert load_config(data=cfg(warc_file, tmp_path, workers=1)).hash() == a.hash()


@pytest.mark.parametrize("name", ["massivetext.yaml", "extract-only.yaml"])
def test_shipped_pipelines_validate(name, tmp_path, warc_file, monkeypatch):
    monkeypatch.chdir(ROOT)  # the configs' paths are relative to the repo root
    if (
        "decontaminate" in (ROOT / "pipelines" / name).read_text()
        and not (ROOT.parent / "shared" / "data" / "evalsets").is_dir()
    ):
        pytest.skip("the config decontaminates against ../shared/data/evalsets, which is absent")
    config = load_config(ROOT / "pipelines" / name, inputs=[warc_file], output=str(tmp_path / "o"))
    assert config.stages[0].name == "warc_reader"


# --- executor (issue 8) --------------------------------------------------------------------


@pytest.mark.parametrize(
    "executor, message",
    [
        ("spark", "executor.type must be one of local, ray, got 'spark'"),
        ({"type": "ray", "adress": "auto"}, "executor: unknown key(s) ['adress']"),
        ({"address": "auto"}, "executor.type is missing"),
        ({"type": "ray", "workers": 0}, "executor.workers must be a positive integer, got 0"),
        ({"type": "ray", "address": 6379}, "executor.address must be 'auto', a cluster address"),
        ({"type": "local", "address": "auto"}, "executor.address is only for type: ray"),
        (["ray"], "'executor' must be 'local', 'ray' or a mapping"),
    ],
)
def test_bad_executor_names_the_key(warc_file, tmp_path, executor, message):
    with pytest.raises(ConfigError) as err:
        load_config(data=cfg(warc_file, tmp_path, executor=executor))
    assert message in str(err.value)


def test_executor_forms_and_overrides(warc_file, tmp_path):
    local = load_config(data=cfg(warc_file, tmp_path, workers=3))
    assert (local.executor, local.ray_address, local.workers) == ("local", None, 3)
    short = load_config(data=cfg(warc_file, tmp_path, executor="ray", workers=3))
    assert (short.executor, short.ray_address, short.workers) == ("ray", None, 3)
    full = load_config(
        data=cfg(warc_file, tmp_path, executor={"type": "ray", "address": "auto", "workers": 5}, workers=3)
    )
    assert (full.executor, full.ray_address, full.workers) == ("ray", "auto", 5)  # executor.workers wins
    # command-line overrides win over the file; --ray-address alone means ray
    over = load_config(
        data=cfg(warc_file, tmp_path, executor={"type": "ray", "address": "auto"}), executor="local", workers=2
    )
    assert (over.executor, over.ray_address, over.workers) == ("local", None, 2)
    joined = load_config(data=cfg(warc_file, tmp_path), ray_address="ray://head:10001")
    assert (joined.executor, joined.ray_address) == ("ray", "ray://head:10001")
    with pytest.raises(ConfigError, match="--ray-address needs --executor ray"):
        load_config(data=cfg(warc_file, tmp_path), executor="local", ray_address="auto")
    # the executor does not change the output, so neither the hash nor the recorded config
    assert local.hash() == short.hash() == full.hash() == joined.hash()
    assert local.resolved() == full.resolved()


def test_choose_executor_is_the_one_check(tmp_path):
    """The CLI flags, a config and tokenize() share one check: an address means ray."""
    from corpusforge.engine.executor import choose_executor
    from corpusforge.tokenizer.tokenize import tokenize

    assert choose_executor(None, "auto", 3) == ("ray", "auto", 3)
    assert choose_executor(None, None, 2) == ("local", None, 2)
    for args, message in [
        (("local", "auto"), "--ray-address needs --executor ray"),
        (("dask",), "--executor must be one of local, ray, got 'dask'"),
        (("ray", ""), "--ray-address must be 'auto', a cluster address"),
        (("ray", None, 0), "--workers must be a positive integer, got 0"),
    ]:
        with pytest.raises(ConfigError, match=message):
            choose_executor(*args)
    # checked before the tokenizer is even loaded
    with pytest.raises(ConfigError, match="--ray-address needs --executor ray"):
        tokenize(tmp_path / "no-tokenizer", [], tmp_path / "out", executor="local", ray_address="auto")


def test_cli_executor_flags(tmp_path, warc_file, capsys):
    path = tmp_path / "c.yaml"
    path.write_text(yaml.safe_dump(cfg(warc_file, tmp_path, executor={"type": "ray", "workers": "many"})))
    assert main(["run", str(path), "--executor", "ray"]) == 2
    assert capsys.readouterr().err.startswith("error: ")
    with pytest.raises(SystemExit):
        main(["run", str(path), "--executor", "dask"])
    assert "invalid choice: 'dask'" in capsys.readouterr().err


def test_input_uris_and_output_paths(tmp_path):
    """Inputs may be pyarrow.fs URIs (file:// here; s3://, gs:// alike); outputs are local or
    file:// paths, and an object-store output is a RemotePath."""
    for name in ("b.warc.gz", "a.warc.gz", "sub/c.warc.gz"):
        (tmp_path / name).parent.mkdir(exist_ok=True)
        (tmp_path / name).write_bytes(b"")
    base = f"file://{tmp_path}"
    stages = ["warc_reader", "trafilatura", "parquet_writer"]
    config = load_config(data={"input": f"{base}/*.warc.gz", "output": f"file://{tmp_path}/out", "stages": stages})
    assert config.inputs == [f"{base}/a.warc.gz", f"{base}/b.warc.gz"]
    assert config.output == tmp_path / "out"
    deep = load_config(data={"input": [f"{base}/**/*.warc.gz", f"{base}/a.warc.gz"], "output": "o", "stages": stages})
    assert deep.inputs == [f"{base}/a.warc.gz", f"{base}/b.warc.gz", f"{base}/sub/c.warc.gz"]
    with pytest.raises(ConfigError, match=r"input: no file matches 'file://.*/\*\.jsonl'"):
        load_config(data={"input": f"{base}/*.jsonl", "output": "o", "stages": stages})
    remote = load_config(data={"input": f"{base}/a.warc.gz", "output": "s3://bucket/out/", "stages": stages})
    assert isinstance(remote.output, RemotePath) and str(remote.output / "data") == "s3://bucket/out/data"
    with pytest.raises(
        ConfigError, match=r"outputs may be a local path, a shared filesystem, or on s3://.*not on hdfs://"
    ):
        load_config(data={"input": f"{base}/a.warc.gz", "output": "hdfs://host:8020/out", "stages": stages})
    with pytest.raises(ConfigError, match="options in the URI are not supported for outputs"):
        load_config(data={"input": f"{base}/a.warc.gz", "output": "s3://bucket/out?region=x", "stages": stages})


def test_readers_open_uris_like_paths(tmp_path):
    """Each reader gives the same documents for a file:// URI (the pyarrow.fs path that s3://
    and gs:// take) as for the plain path: gzip JSON Lines, plain JSON Lines, Parquet."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    from corpusforge.engine.stage import StageContext
    from corpusforge.engine.stats import StageStats
    from corpusforge.stages.readers.jsonl_reader import JsonlReader
    from corpusforge.stages.readers.parquet_reader import ParquetReader

    evalsets = ROOT.parent / "shared" / "data" / "evalsets"
    if not evalsets.is_dir():
        pytest.skip(f"real data not found at {evalsets}")
    parquet = tmp_path / "t.parquet"
    pq.write_table(pa.table({"id": ["a", "b"], "text": ["one", "two"], "lang": ["en", None]}), parquet)

    def read(reader, path: str) -> list:
        ctx = StageContext(task=0, source=path, work_dir=tmp_path, stats=StageStats("r"))
        return [(d.id, d.text, d.url, d.metadata) for d in reader.read(path, ctx)]

    cases = [
        (JsonlReader(text_key="prompt", id_key="task_id"), evalsets / "humaneval.jsonl.gz"),
        (JsonlReader(text_key="question"), evalsets / "gsm8k_test.jsonl"),
        (ParquetReader(), parquet),
    ]
    for reader, path in cases:
        plain = read(reader, str(path))
        assert len(plain) > 1 and read(reader, f"file://{path}") == plain
    assert ParquetReader().input_columns([f"file://{parquet}"]) == {"lang": pa.string()}


def test_stage_labels_number_the_repeats_of_a_name():
    assert stage_labels(["jsonl_reader", "exact_dedup", "c4", "exact_dedup", "exact_dedup"]) == [
        "jsonl_reader",
        "exact_dedup",
        "c4",
        "exact_dedup#2",
        "exact_dedup#3",
    ]


def test_version_is_the_packages_and_the_wheels(capsys):
    """`corpusforge --version` prints the version the installed distribution carries (pyproject
    reads it from `corpusforge.__version__`: one place)."""
    from importlib.metadata import version

    import corpusforge
    from corpusforge.cli import main

    with pytest.raises(SystemExit) as done:
        main(["--version"])
    assert done.value.code == 0
    assert capsys.readouterr().out.strip() == f"corpusforge {corpusforge.__version__}"
    assert version("corpusforge") == corpusforge.__version__


_WITHOUT = """
import sys
class Missing:  # as if these were not installed
    def find_spec(self, name, path=None, target=None):
        if name.partition(".")[0] in {blocked!r}:
            raise ModuleNotFoundError(f"No module named {{name!r}}", name=name)
sys.meta_path.insert(0, Missing())
from corpusforge.cli import main
sys.exit(main(sys.argv[1:]))
"""


def _without(modules: set[str], *argv: str, cwd) -> subprocess.CompletedProcess:
    code = _WITHOUT.format(blocked=modules)
    return subprocess.run([sys.executable, "-c", code, *argv], capture_output=True, text=True, cwd=cwd, check=False)


def test_without_torch_plan_works_and_the_others_name_the_extra(tmp_path):
    done = _without({"torch"}, "plan", "--tokens", "2M", cwd=tmp_path)
    assert done.returncode == 0 and "warmup_steps" in done.stdout, done.stderr
    (tmp_path / "t.yaml").write_text("data: x\nout_dir: y\n")
    for argv in (["train", "t.yaml"], ["generate", "ckpt.pt", "--prompt", "x"], ["export-hf", "ckpt.pt", "hf"]):
        done = _without({"torch"}, *argv, cwd=tmp_path)
        assert done.returncode == 2, (argv, done.stderr)
        assert (
            f"corpusforge {argv[0]} needs torch, which is not installed: pip install 'corpusforge[train]'"
            in done.stderr
        )
        assert "Traceback" not in done.stderr


def test_without_ray_the_ray_executor_names_the_extra(tmp_path):
    warc = ROOT.parent / "shared" / "data" / "warc" / "cc-sample-0000.warc.gz"
    config = tmp_path / "c.yaml"
    config.write_text(f"input: {warc}\noutput: {tmp_path / 'out'}\nstages: [warc_reader, parquet_writer]\n")
    done = _without({"ray"}, "run", str(config), "--executor", "ray", "--quiet", cwd=tmp_path)
    assert done.returncode == 2 and "pip install 'corpusforge[ray]'" in done.stderr and "Traceback" not in done.stderr


def test_the_hash_follows_the_content_of_the_files_stages_read(warc_file, tmp_path):
    """A block list, test set or model edited in place is another run, though no key changed."""
    words = tmp_path / "words.txt"
    words.write_text("casino\n")
    data = cfg(warc_file, tmp_path, ["warc_reader", {"url_filter": {"url_words": [str(words)]}}, "parquet_writer"])
    first = load_config(data=data)
    assert first.file_digests() == {str(words): hashlib.sha256(b"casino\n").hexdigest()}
    same = load_config(data=data).hash()
    words.write_text("casino\npoker\n")
    edited = load_config(data=data)
    assert first.hash() == same != edited.hash()
    # a config whose stages read no file hashes as it did before file digests existed
    plain = load_config(data=cfg(warc_file, tmp_path))
    assert plain.file_digests() == {}
