"""YAML config → a validated pipeline, with one clear error naming the key before any work.

```yaml
input: data/sample/*.warc.gz      # a glob or a list of globs
output: output/massivetext
workers: 2                        # optional; default: the number of cores
executor: local                   # optional; or {type: ray, address: auto|<addr>|null, workers: N}
rejected: 20                      # optional; sample up to 20 dropped documents per reason
stages:
  - warc_reader                   # a reader first
  - trafilatura: {favor_precision: true}
  - parquet_writer: {max_rows: 100000}   # the writer last
```
Stage keys are the stage class's constructor arguments; their type hints are the schema
(`corpusforge.schema` checks every key before any work).
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Annotated, Any

from corpusforge.engine.executor import EXECUTORS, check_workers, choose_executor, default_workers
from corpusforge.engine.stage import Reader, Stage, stage_labels
from corpusforge.errors import ConfigError
from corpusforge.io.paths import AnyPath, expand, is_uri, output_path, sha256_file
from corpusforge.schema import Key, read_yaml, validate
from corpusforge.shipped import find_shipped, relative_paths_hint
from corpusforge.stages import STAGES
from corpusforge.stages.parquet_writer import ParquetWriter


@dataclass
class PipelineKeys:
    """The top-level keys of a pipeline config (a stage's keys are its constructor's); the
    values of `workers` and `executor` are checked by `check_workers` and `choose_executor`,
    which check the command-line flags too."""

    input: Annotated[str | list[str], Key(doc="a glob or a list of globs")]
    output: Annotated[str, Key(non_empty=True, doc="the output folder")]
    stages: Annotated[list, Key(non_empty=True)]
    workers: int | None = None
    executor: Any = "local"
    rejected: Annotated[int, Key(ge=0)] = 0  # documents to sample per drop reason


@dataclass
class ExecutorBlock:
    """`executor: {type: ray, address: auto|<addr>|null, workers: N}`; `choose_executor` checks the values."""

    type: str | None = None
    address: Any = None
    workers: int | None = None


@dataclass
class StageSpec:
    """One stage as configured: its YAML name, its label in stats, its full arguments and the
    stage built from them (once, here in the driver; workers get it pickled with their jobs)."""

    name: str
    label: str
    args: dict[str, Any]
    stage: Stage


@dataclass
class PipelineConfig:
    inputs: list[str]
    output: AnyPath
    stages: list[StageSpec]
    workers: int = field(default_factory=lambda: default_workers())
    executor: str = "local"  # "local" or "ray"
    ray_address: str | None = None  # ray: join this cluster ("auto", "ray://host:10001"); None: start one
    rejected: int = 0
    source: str = "<dict>"
    _digests: dict[str, str] | None = field(default=None, repr=False, compare=False)

    @property
    def built(self) -> list[Stage]:
        return [s.stage for s in self.stages]

    def resolved(self) -> dict[str, Any]:
        """The config with every default filled in: what the output folder records."""
        return {
            "input": self.inputs,
            "output": str(self.output),
            "rejected": self.rejected,
            "stages": [{s.name: s.args} for s in self.stages],
        }

    def file_digests(self) -> dict[str, str]:
        """sha256 of each file the stages depend on (`Stage.depends_on`), by path."""
        if self._digests is None:
            paths = sorted({p for s in self.stages for p in s.stage.depends_on()})
            self._digests = {p: _digest(p) for p in paths}
        return self._digests

    def hash(self) -> str:
        """Hash of what decides the output (inputs, stages and the content of the files they
        read, samples; not workers or executor)."""
        key = {k: v for k, v in self.resolved().items() if k != "output"}
        if digests := self.file_digests():  # absent when no stage reads a file: older hashes hold
            key["files"] = digests
        return hashlib.sha256(json.dumps(key, sort_keys=True, default=str).encode()).hexdigest()[:16]


def _digest(path: str) -> str:
    """A file's sha256 (what `sha256sum` prints), or a folder's over its files' names and digests."""
    root = Path(path).expanduser()
    if is_uri(path) or not root.is_dir():
        return sha256_file(path if is_uri(path) else root)
    h = hashlib.sha256()
    for f in sorted(f for f in root.rglob("*") if f.is_file()):
        h.update(f.relative_to(root).as_posix().encode() + b"\0" + _digest(str(f)).encode())
    return h.hexdigest()


def load_config(
    path: str | Path | None = None,
    data: dict[str, Any] | None = None,
    inputs: list[str] | None = None,
    output: str | None = None,
    workers: int | None = None,
    executor: str | None = None,
    ray_address: str | None = None,
) -> PipelineConfig:
    """Read and validate a pipeline config; command-line overrides win over the file."""
    if data is None:
        if path is None:
            raise ConfigError("no config given")
        path = find_shipped("pipeline", path)
        data = read_yaml(path, "config file")
    source = str(path) if path is not None else "<dict>"
    if isinstance(data, dict):  # command-line overrides win over the file
        data = data | ({"input": inputs} if inputs else {}) | ({"output": output} if output is not None else {})
    top = validate(PipelineKeys, data, source=source)
    try:  # files the config names: a shipped config's are relative to where it runs
        files = resolve_inputs([top["input"]] if isinstance(top["input"], str) else top["input"])
        stages = parse_stages(top["stages"])
    except ConfigError as exc:
        raise ConfigError(f"{exc}{relative_paths_hint(path) if path is not None else ''}") from None
    try:
        out_path = output_path(top["output"])
    except ValueError as exc:
        raise ConfigError(f"{source}: {exc}") from None

    kind, address, executor_workers = parse_executor(top["executor"], source)
    if executor is not None or ray_address is not None:  # command-line overrides; --ray-address means ray
        flag_kind, flag_address, _ = choose_executor(executor, ray_address)
        # --executor ray keeps the file's address; --executor local drops it
        address = flag_address if flag_address is not None else (address if flag_kind == "ray" else None)
        kind = flag_kind
    n_workers = next((n for n in (workers, executor_workers, top["workers"]) if n is not None), None)
    n_workers = default_workers() if n_workers is None else check_workers(n_workers, f"{source}: 'workers'")

    config = PipelineConfig(
        inputs=files,
        output=out_path,
        stages=stages,
        workers=n_workers,
        executor=kind,
        ray_address=address,
        rejected=top["rejected"],
        source=source,
    )
    check_shape(config)
    return config


def parse_executor(raw: Any, source: str) -> tuple[str, str | None, int | None]:
    """`executor: local` | `ray` | `{type: ray, address: auto|<addr>|null, workers: N}` →
    (kind, address, workers or None). The executor never changes the output, so not the hash."""
    if isinstance(raw, str):
        raw = {"type": raw}
    if not isinstance(raw, dict):
        raise ConfigError(
            f"{source}: 'executor' must be 'local', 'ray' or a mapping "
            f"{{type: ray, address: ..., workers: N}}, got {raw!r}"
        )
    keys = validate(ExecutorBlock, raw, "executor", source)
    if keys["type"] is None:
        raise ConfigError(f"{source}: executor.type is missing (one of {', '.join(EXECUTORS)})")
    if keys["workers"] is not None:
        check_workers(keys["workers"], f"{source}: executor.workers")
    kind, address, _ = choose_executor(keys["type"], keys["address"], config=source)
    return kind, address, keys["workers"]


def resolve_inputs(patterns: list[str]) -> list[str]:
    """Globs or paths, local or any pyarrow.fs URI (s3://, gs://, file://) → sorted files."""
    files: list[str] = []
    for pattern in patterns:
        try:
            matches = expand(pattern)
        except (OSError, ValueError) as exc:
            raise ConfigError(f"input: cannot list {pattern!r}: {exc}") from None
        if not matches:
            raise ConfigError(f"input: no file matches {pattern!r}")
        files.extend(matches)
    seen: set[str] = set()
    return [f for f in files if not (f in seen or seen.add(f))]


def parse_stages(raw: list[Any]) -> list[StageSpec]:
    specs: list[StageSpec] = []
    for i, entry in enumerate(raw):
        where = f"stages[{i}]"
        if isinstance(entry, str):
            name, args = entry, {}
        elif isinstance(entry, dict) and len(entry) == 1:
            name, args = next(iter(entry.items()))
            args = {} if args is None else args
        else:
            raise ConfigError(
                f"{where}: a stage is a name or a one-key mapping {{name: {{key: value}}}}, got {entry!r}"
            )
        if name not in STAGES:
            raise ConfigError(f"{where}: unknown stage {name!r}; known: {', '.join(sorted(STAGES))}")
        full = validate(STAGES[name], args, f"{where}.{name}")
        label = stage_labels([s.name for s in specs] + [name])[-1]
        try:
            stage = STAGES[name](**full)
            stage.check()
        except (ValueError, TypeError, ConfigError) as exc:  # ConfigError: a stage's nested keys (test sets)
            raise ConfigError(f"{where}.{name}: {exc}") from None
        specs.append(StageSpec(name=name, label=label, args=full, stage=stage))
    return specs


def check_shape(config: PipelineConfig) -> None:
    """A reader first, the writer last, neither in between."""
    classes = [STAGES[s.name] for s in config.stages]
    if not issubclass(classes[0], Reader):
        readers = ", ".join(n for n, c in STAGES.items() if issubclass(c, Reader))
        raise ConfigError(f"stages[0]: the first stage must be a reader ({readers}), got {config.stages[0].name!r}")
    if classes[-1] is not ParquetWriter:
        raise ConfigError(
            f"stages[{len(classes) - 1}]: the last stage must be parquet_writer, got {config.stages[-1].name!r}"
        )
    for i, cls in enumerate(classes[1:-1], start=1):
        if issubclass(cls, Reader) or cls is ParquetWriter:
            raise ConfigError(f"stages[{i}]: {config.stages[i].name} may only be the first or last stage")
