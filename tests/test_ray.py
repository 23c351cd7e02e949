"""The Ray executor (issue 8): the same tasks as Ray tasks give the same bytes as the local pool.

One local Ray instance with 2 CPUs serves the whole module (starting one takes seconds); the
executor joins it and leaves it running. Inputs are real crawl data from ../shared/data: the
two Common Crawl sample files plus two small WARC files cut from the article pages that share
five pages, so exact and MinHash dedup have cross-file duplicates to find.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import pyarrow.parquet as pq
import pytest
import yaml

ray = pytest.importorskip("ray", reason="ray is not installed (pip install 'corpusforge[ray]'): Ray executor untested")

from conftest import ROOT, SHARED, write_warc  # noqa: E402
from tokenizer_data import extracted_shards, trained  # noqa: E402

from corpusforge.cli import main  # noqa: E402
from corpusforge.engine.config import load_config  # noqa: E402
from corpusforge.engine.executor import make_executor  # noqa: E402
from corpusforge.engine.ray_executor import RayExecutor  # noqa: E402
from corpusforge.engine.runner import run_pipeline  # noqa: E402
from corpusforge.engine.worker import report_progress  # noqa: E402
from corpusforge.errors import TaskFailedError  # noqa: E402
from corpusforge.tokenizer.tokenize import tokenize  # noqa: E402


@pytest.fixture(scope="module", autouse=True)
def ray_instance():
    with pytest.MonkeyPatch.context() as mp:
        mp.chdir(ROOT)  # the pipeline's test-set paths are relative to the repo root
        yield from _ray_instance()


def _ray_instance():
    ray.init(address="local", num_cpus=2, include_dashboard=False, logging_level="WARNING", log_to_driver=False)
    # Functions defined here travel by value: Ray workers do not have tests/ on sys.path.
    ray.cloudpickle.register_pickle_by_value(sys.modules[__name__])
    yield
    ray.cloudpickle.unregister_pickle_by_value(sys.modules[__name__])
    ray.shutdown()


@pytest.fixture(scope="module")
def inputs(tmp_path_factory, article_pages) -> list[str]:
    folder = tmp_path_factory.mktemp("ray-in")
    pages = [(url, payload, ctype) for url, ctype, payload in article_pages]
    write_warc(folder / "articles-a.warc.gz", pages[0:14])
    write_warc(folder / "articles-b.warc.gz", pages[9:22])  # pages 9-13 in both files
    return [
        str(SHARED / "warc" / "cc-sample-0000.warc.gz"),
        str(SHARED / "warc" / "cc-sample-0001.warc.gz"),
        str(folder / "articles-a.warc.gz"),
        str(folder / "articles-b.warc.gz"),
    ]


def pipeline_config(inputs: list[str], out: Path, **over) -> dict:
    """pipelines/massivetext.yaml (every global stage: exact, MinHash, decontamination), on `inputs`."""
    data = yaml.safe_load((ROOT / "pipelines" / "massivetext.yaml").read_text())
    return data | {"input": inputs, "output": str(out), "workers": 2} | over


def outputs(out: Path) -> dict[str, bytes]:
    """What must be byte-identical: the corpus shards, the contamination report, the rejected sample."""
    files = sorted(out.glob("data/*")) + sorted(out.glob("rejected/*")) + sorted(out.glob("contamination.json"))
    return {str(p.relative_to(out)): p.read_bytes() for p in files}


def counts(out: Path) -> list:
    return [
        (s["name"], s["in"], s["out"], s["dropped"]) for s in json.loads((out / "stats.json").read_text())["stages"]
    ]


@pytest.fixture(scope="module")
def local_run(inputs, tmp_path_factory, warc_dir) -> Path:
    out = tmp_path_factory.mktemp("local") / "out"
    run_pipeline(load_config(data=pipeline_config(inputs, out)), quiet=True)
    return out


def test_pipeline_on_ray_gives_the_same_bytes(local_run, inputs, tmp_path):
    out = tmp_path / "ray"
    config = load_config(data=pipeline_config(inputs, out, executor={"type": "ray", "workers": 2}))
    assert config.executor == "ray"
    run_pipeline(config, quiet=True)
    expected = outputs(local_run)
    assert len([k for k in expected if k.startswith("data/")]) == 4
    assert outputs(out) == expected
    assert counts(out) == counts(local_run)
    stats = dict((name, (i, o, d)) for name, i, o, d in counts(out))
    assert stats["exact_dedup"][2] or stats["minhash_dedup"][2], "the shared pages are found as duplicates"
    assert pq.read_table(out / "data").num_rows == stats["parquet_writer"][1]
    assert ray.is_initialized(), "an instance the executor did not start is left running"


def test_pipeline_on_ray_writes_to_object_storage(local_run, inputs, s3):
    """Output on s3:// (a local S3 server): Ray workers write shards, work files and markers
    there, and the corpus is the same bytes as the local executor's local folder."""
    from s3_server import read_tree

    run_pipeline(load_config(data=pipeline_config(inputs, s3, executor={"type": "ray", "workers": 2})), quiet=True)
    remote = read_tree(s3)
    expected = outputs(local_run)
    assert {k: remote.get(k) for k in expected} == expected
    assert sorted(k for k in remote if k.startswith(("data/", "rejected/"))) == sorted(
        k for k in expected if k.startswith(("data/", "rejected/"))
    )
    assert [(s["name"], s["in"], s["out"], s["dropped"]) for s in json.loads(remote["stats.json"])["stages"]] == counts(
        local_run
    )


def _workers_of_this_instance(title: bytes) -> list[int]:
    """Ray worker processes of the module's instance (driver → raylet → worker) whose process
    title is `title`; other Ray instances on the machine are never touched."""
    found = []
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            if not Path(f"/proc/{entry}/cmdline").read_bytes().startswith(title):
                continue
            parent = int(Path(f"/proc/{entry}/stat").read_text().rsplit(")", 1)[1].split()[1])
            grandparent = int(Path(f"/proc/{parent}/stat").read_text().rsplit(")", 1)[1].split()[1])
        except (OSError, ValueError, IndexError):
            continue
        if grandparent == os.getpid():
            found.append(int(entry))
    return found


def test_a_worker_killed_mid_task_is_retried(local_run, inputs, tmp_path):
    """SIGKILL the first worker seen running a pipeline task: Ray reruns the task, and the
    output is complete, identical and free of the killed attempt's temporary files."""
    killed: list[int] = []
    stop = threading.Event()

    def killer() -> None:
        while not stop.is_set() and not killed:
            for pid in _workers_of_this_instance(b"ray::_run_task"):
                time.sleep(0.3)  # let it get into the task's work
                try:
                    if not Path(f"/proc/{pid}/cmdline").read_bytes().startswith(b"ray::_run_task"):
                        continue  # finished meanwhile: idle workers are no test
                    os.kill(pid, signal.SIGKILL)
                except (OSError, ProcessLookupError):
                    continue
                killed.append(pid)
                break
            time.sleep(0.01)

    thread = threading.Thread(target=killer, daemon=True)
    thread.start()
    out = tmp_path / "ray-killed"
    path = tmp_path / "config.yaml"
    path.write_text(yaml.safe_dump(pipeline_config(inputs, out)))
    try:
        assert main(["run", str(path), "--executor", "ray", "--workers", "2", "--quiet"]) == 0
    finally:
        stop.set()
        thread.join()
    assert killed, "no worker was running a task to kill"
    assert outputs(out) == outputs(local_run)
    assert counts(out) == counts(local_run)
    assert not list(out.rglob("*.tmp")), "the killed attempt's temporary files are cleaned up"


def _die_once(job: tuple[str, int]) -> int:
    marker, value = job
    if value == 1 and not os.path.exists(marker):
        Path(marker).touch()
        os._exit(1)  # the worker process dies, as if killed or out of memory
    report_progress(10)
    return value * 2


def _fail_on_three(job: int) -> int:
    if job == 3:
        raise ValueError("not a WARC file")
    time.sleep(0.05)
    return job


def test_executor_retries_dead_workers_and_names_failed_inputs(tmp_path):
    marker = str(tmp_path / "died")
    with make_executor("ray", 2, quiet=True) as ex:
        assert isinstance(ex, RayExecutor)
        jobs = [(marker, i) for i in range(5)]
        assert ex.map(_die_once, jobs, [f"in-{i}.warc.gz" for i in range(5)], desc="t") == [0, 2, 4, 6, 8]
        assert os.path.exists(marker), "job 1 did kill its worker once"

        with pytest.raises(TaskFailedError) as err:
            ex.map(_fail_on_three, list(range(6)), [f"in-{i}.warc.gz" for i in range(6)], desc="t")
    message = str(err.value)
    assert message.startswith("task on in-3.warc.gz failed: ValueError: not a WARC file")
    assert "Traceback" in message and "_fail_on_three" in message  # the remote traceback

    # a worker that keeps dying exhausts max_retries and names the input
    with RayExecutor(2, quiet=True, max_retries=1) as ex, pytest.raises(TaskFailedError) as err:
        ex.map(_always_die, [0], ["doomed.warc.gz"], desc="t")
    assert "a Ray worker died while running doomed.warc.gz, 2 time(s)" in str(err.value)


def _always_die(job: int) -> int:
    os._exit(1)


def _slow_progress(job: int) -> int:
    report_progress(100, 2048)
    time.sleep(0.6)
    return job


def test_progress_bar_counts_documents_in_running_tasks(capsys, monkeypatch):
    from corpusforge.engine import executor

    class ShownBar(executor.tqdm):  # pytest's stderr is no terminal, where bars hide
        def __init__(self, *args, **kwargs):
            super().__init__(*args, **(kwargs | {"disable": False}))

    monkeypatch.setattr(executor, "tqdm", ShownBar)
    with RayExecutor(2) as ex:
        assert ex.map(_slow_progress, [0, 1, 2], ["a", "b", "c"], desc="phase x") == [0, 1, 2]
        err = capsys.readouterr().err
        assert "phase x" in err and "3/3" in err and "docs=" in err
        # given the jobs' input sizes, the bar counts the bytes the tasks report
        assert ex.map(_slow_progress, [0, 1], ["a", "b"], desc="phase y", sizes=[2048, 2048]) == [0, 1]
    err = capsys.readouterr().err
    assert "phase y" in err and "4.10kB/4.10kB" in err and "tasks=2/2" in err and "docs=200" in err


def test_progress_reports_are_batched_per_task():
    """A task reporting every few documents sends the actor one call per 0.5 s, and the rest
    when it ends: the counts add up, the calls do not flood the one actor."""
    from corpusforge.engine import ray_executor

    calls: list[tuple[int, int]] = []

    class Counter:
        class add:  # stands in for an actor method
            @staticmethod
            def remote(n_docs: int, n_bytes: int) -> None:
                calls.append((n_docs, n_bytes))

    clock = [100.0]
    progress = ray_executor._ActorProgress(Counter(), clock=lambda: clock[0])
    for _ in range(64):  # 64 documents (and 1 kB) every 1/64 s for 1 s
        progress.put(64, 1000)
        clock[0] += 1 / 64
    assert calls == [(33 * 64, 33_000)], "one call, at 0.5 s"
    progress.flush()  # what _run_task does when the task ends
    assert calls == [(33 * 64, 33_000), (31 * 64, 31_000)]
    progress.put(0, 500)  # bytes alone are news too
    progress.flush()
    progress.flush()
    assert calls[2:] == [(0, 500)], "nothing left, nothing sent"


def test_application_error_names_the_file_and_a_rerun_resumes(tmp_path, split_articles):
    files = split_articles(8, 2, tmp_path / "in")
    data = {
        "input": [str(f) for f in files],
        "output": str(tmp_path / "out"),
        "workers": 2,
        "executor": "ray",
        "stages": ["warc_reader", "trafilatura", "parquet_writer"],
    }
    config = load_config(data=data)
    hidden = files[1].rename(files[1].with_suffix(".hidden"))  # vanishes after the config was read
    with pytest.raises(TaskFailedError) as err:
        run_pipeline(config, quiet=True)
    assert f"task on {files[1]} failed: FileNotFoundError" in str(err.value)
    assert "Traceback" in str(err.value)
    done = tmp_path / "out" / "work" / "markers" / "00-stream" / "task-00000.json"
    assert done.exists() and not done.with_name("task-00001.json").exists()
    first = done.stat().st_mtime_ns

    hidden.rename(files[1])
    run_pipeline(config, quiet=True)
    assert done.stat().st_mtime_ns == first, "the finished task is not redone"
    assert len(list((tmp_path / "out" / "data").glob("*.parquet"))) == 2


def test_tokenize_on_ray_gives_the_same_token_files(tmp_path):
    tok = trained("multiword-256k", 2000)
    shards = sorted(str(p) for p in extracted_shards().glob("*.parquet"))
    local = tokenize(tok, shards, tmp_path / "local", workers=2, val_fraction=0.1, seed=3, quiet=True)
    assert (
        main(
            [
                "tokenize",
                "--tokenizer",
                str(tok),
                "--input",
                *shards,
                "--output",
                str(tmp_path / "ray"),
                "--workers",
                "2",
                "--val-fraction",
                "0.1",
                "--seed",
                "3",
                "--executor",
                "ray",
                "--quiet",
            ]
        )
        == 0
    )

    def files(folder: Path) -> dict[str, bytes]:
        return {
            str(p.relative_to(folder)): p.read_bytes()
            for p in sorted(folder.rglob("*"))
            if p.is_file() and p.parent.name in ("train", "val")
        }

    expected = files(tmp_path / "local")
    assert any(k.startswith("val/") for k in expected) and len(expected) >= 6
    assert files(tmp_path / "ray") == expected
    summary = json.loads((tmp_path / "ray" / "summary.json").read_text())
    assert summary["train"] == local["train"] and summary["val"] == local["val"]


def test_file_uri_inputs_read_through_pyarrow_fs(local_run, inputs, tmp_path):
    """Inputs named as file:// URIs go through pyarrow.fs (the s3://, gs:// code path) and
    give the same corpus as plain paths."""
    out = tmp_path / "uri"
    inputs = inputs[2:]  # the two article files
    uris = [f"file://{Path(p).resolve()}" for p in inputs]
    data = pipeline_config(
        uris, out, executor="ray", stages=["warc_reader", {"trafilatura": {"favor_precision": True}}, "parquet_writer"]
    )
    plain = tmp_path / "plain"
    run_pipeline(load_config(data=data | {"input": inputs, "output": str(plain), "executor": "local"}), quiet=True)
    run_pipeline(load_config(data=data), quiet=True)
    # The same corpus; not the same bytes: inputs spelled otherwise are another config (whose hash
    # each shard's footer carries), and file_path says how each input was named.
    ours, theirs = outputs(out), outputs(plain)
    assert ours.keys() == theirs.keys() and any(k.startswith("data/") for k in ours)
    for name in ours:
        if name.startswith("data/"):
            by_uri, by_path = pq.read_table(out / name), pq.read_table(plain / name)
            assert by_uri.drop_columns("file_path").equals(by_path.drop_columns("file_path"))
            assert set(by_uri["file_path"].to_pylist()) <= set(uris)
            assert set(by_path["file_path"].to_pylist()) <= set(inputs)
        else:
            assert ours[name] == theirs[name]


def test_local_runs_do_not_import_ray():
    code = (
        "import sys; import corpusforge.cli, corpusforge.engine.runner, corpusforge.tokenizer.tokenize; "
        "from corpusforge.engine.executor import make_executor; make_executor('local', 2).close(); "
        "assert 'ray' not in sys.modules, 'ray imported'"
    )
    subprocess.run([sys.executable, "-c", code], check=True, cwd=ROOT)


@pytest.mark.slow
def test_cli_starts_and_stops_its_own_ray_instance(local_run, inputs, tmp_path):
    """Without an address `corpusforge run --executor ray` starts a local instance of
    --workers CPUs and shuts it down (a separate process: this module's instance is apart)."""
    config = tmp_path / "c.yaml"
    config.write_text(yaml.safe_dump(pipeline_config(inputs, tmp_path / "out")))
    done = subprocess.run(
        [sys.executable, "-m", "corpusforge", "run", str(config), "--executor", "ray", "--workers", "2", "--quiet"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert done.returncode == 0, done.stderr
    assert outputs(tmp_path / "out") == outputs(local_run)
    assert json.loads((tmp_path / "out" / "stats.json").read_text())["executor"] == "ray"
