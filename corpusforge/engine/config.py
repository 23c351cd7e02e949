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
Stage keys are the stage class's constructor arguments; their type hints are the schema.
"""

from __future__ import annotations

import hashlib
import inspect
import json
import types
import typing
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

import yaml

from corpusforge.engine.executor import EXECUTORS, ExecutorKeys, check_workers, choose_executor, default_workers
from corpusforge.engine.stage import Reader, Stage, stage_labels
from corpusforge.errors import ConfigError
from corpusforge.io.paths import AnyPath, expand, output_path
from corpusforge.stages import STAGES
from corpusforge.stages.parquet_writer import ParquetWriter

TOP_LEVEL_KEYS = {"input", "output", "workers", "executor", "rejected", "stages"}
_MISSING = object()


@dataclass
class StageSpec:
    """One stage as configured: its YAML name, its label in stats and its full arguments."""

    name: str
    label: str
    args: dict[str, Any]

    def build(self) -> Stage:
        return STAGES[self.name](**self.args)


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

    def resolved(self) -> dict[str, Any]:
        """The config with every default filled in: what the output folder records."""
        return {
            "input": self.inputs,
            "output": str(self.output),
            "rejected": self.rejected,
            "stages": [{s.name: s.args} for s in self.stages],
        }

    def hash(self) -> str:
        """Hash of what decides the output (inputs, stages, samples; not workers or executor)."""
        key = {"input": self.inputs, "rejected": self.rejected, "stages": [{s.name: s.args} for s in self.stages]}
        return hashlib.sha256(json.dumps(key, sort_keys=True, default=str).encode()).hexdigest()[:16]


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
    source = str(path) if path is not None else "<dict>"
    if data is None:
        if path is None:
            raise ConfigError("no config given")
        p = Path(path)
        if not p.is_file():
            raise ConfigError(f"config file not found: {p}")
        try:
            data = yaml.safe_load(p.read_text())
        except yaml.YAMLError as exc:
            raise ConfigError(f"{p}: not valid YAML: {exc}") from None
    if not isinstance(data, dict):
        raise ConfigError(f"{source}: the config must be a mapping with keys {sorted(TOP_LEVEL_KEYS)}")
    unknown = set(data) - TOP_LEVEL_KEYS
    if unknown:
        raise ConfigError(f"{source}: unknown key(s) {sorted(unknown)}; known: {sorted(TOP_LEVEL_KEYS)}")

    patterns = inputs if inputs else data.get("input")
    if patterns is None:
        raise ConfigError(f"{source}: 'input' is missing (a glob or a list of globs)")
    if isinstance(patterns, str):
        patterns = [patterns]
    if not isinstance(patterns, list) or not all(isinstance(p, str) for p in patterns):
        raise ConfigError(f"{source}: 'input' must be a glob or a list of globs")
    files = resolve_inputs(patterns)

    out = output if output is not None else data.get("output")
    if not isinstance(out, str) or not out:
        raise ConfigError(f"{source}: 'output' is missing (the output folder)")
    try:
        out_path = output_path(out)
    except ValueError as exc:
        raise ConfigError(f"{source}: {exc}") from None

    kind, address, executor_workers = parse_executor(data.get("executor", "local"), source)
    if executor is not None or ray_address is not None:  # command-line overrides; --ray-address means ray
        flag_kind, flag_address, _ = choose_executor(executor, ray_address)
        # --executor ray keeps the file's address; --executor local drops it
        address = flag_address if flag_address is not None else (address if flag_kind == "ray" else None)
        kind = flag_kind
    n_workers = workers if workers is not None else executor_workers
    n_workers = n_workers if n_workers is not None else data.get("workers")
    n_workers = default_workers() if n_workers is None else check_workers(n_workers, f"{source}: 'workers'")

    rejected = data.get("rejected", 0)
    if not _is_int(rejected) or rejected < 0:
        raise ConfigError(f"{source}: 'rejected' (documents to sample per drop reason) must be an integer >= 0")

    stages = parse_stages(data.get("stages"), source)
    config = PipelineConfig(inputs=files, output=out_path, stages=stages, workers=n_workers,
                            executor=kind, ray_address=address, rejected=rejected, source=source)
    check_shape(config)
    return config


EXECUTOR_KEYS = {"type", "address", "workers"}


def config_keys(source: str) -> ExecutorKeys:
    """How `choose_executor` names a config file's keys in its errors."""
    return ExecutorKeys(kind=f"{source}: executor.type", address=f"{source}: executor.address",
                        workers=f"{source}: 'workers'",
                        address_needs_ray=f"{source}: executor.address is only for type: ray")


def parse_executor(raw: Any, source: str) -> tuple[str, str | None, int | None]:
    """`executor: local` | `ray` | `{type: ray, address: auto|<addr>|null, workers: N}` →
    (kind, address, workers or None). The executor never changes the output, so not the hash."""
    if isinstance(raw, str):
        raw = {"type": raw}
    if not isinstance(raw, dict):
        raise ConfigError(f"{source}: 'executor' must be 'local', 'ray' or a mapping "
                          f"{{type: ray, address: ..., workers: N}}, got {raw!r}")
    unknown = set(raw) - EXECUTOR_KEYS
    if unknown:
        raise ConfigError(f"{source}: executor: unknown key(s) {sorted(unknown)}; known: {sorted(EXECUTOR_KEYS)}")
    if raw.get("type") is None:
        raise ConfigError(f"{source}: executor.type is missing (one of {', '.join(EXECUTORS)})")
    n = raw.get("workers")
    if n is not None:
        check_workers(n, f"{source}: executor.workers")
    kind, address, _ = choose_executor(raw["type"], raw.get("address"), keys=config_keys(source))
    return kind, address, n


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


def parse_stages(raw: Any, source: str) -> list[StageSpec]:
    if not isinstance(raw, list) or not raw:
        raise ConfigError(f"{source}: 'stages' must be a non-empty list")
    specs: list[StageSpec] = []
    for i, entry in enumerate(raw):
        where = f"stages[{i}]"
        if isinstance(entry, str):
            name, args = entry, {}
        elif isinstance(entry, dict) and len(entry) == 1:
            name, args = next(iter(entry.items()))
            args = {} if args is None else args
        else:
            raise ConfigError(f"{where}: a stage is a name or a one-key mapping {{name: {{key: value}}}}, got {entry!r}")
        if name not in STAGES:
            raise ConfigError(f"{where}: unknown stage {name!r}; known: {', '.join(sorted(STAGES))}")
        if not isinstance(args, dict):
            raise ConfigError(f"{where}.{name}: the keys must be a mapping, got {args!r}")
        full = validate_args(STAGES[name], args, f"{where}.{name}")
        label = stage_labels([s.name for s in specs] + [name])[-1]
        spec = StageSpec(name=name, label=label, args=full)
        try:
            spec.build()
        except (ValueError, TypeError) as exc:
            raise ConfigError(f"{where}.{name}: {exc}") from None
        specs.append(spec)
    return specs


def validate_args(cls: type, args: dict[str, Any], where: str) -> dict[str, Any]:
    """Check keys and types against the constructor; return the arguments with defaults."""
    sig = inspect.signature(cls.__init__)
    hints = typing.get_type_hints(cls.__init__)
    params = {n: p for n, p in sig.parameters.items() if n != "self"}
    unknown = set(args) - set(params)
    if unknown:
        raise ConfigError(f"{where}: unknown key(s) {sorted(unknown)}; known: {', '.join(params) or 'none'}")
    full: dict[str, Any] = {}
    for pname, param in params.items():
        if pname in args:
            value = args[pname]
            hint = hints.get(pname, Any)
            if not type_matches(value, hint):
                raise ConfigError(f"{where}.{pname}: expected {describe(hint)}, got {value!r}")
            if hint is float and _is_int(value):
                value = float(value)
            full[pname] = value
        elif param.default is inspect.Parameter.empty:
            raise ConfigError(f"{where}: missing required key {pname!r}")
        else:
            full[pname] = param.default
    return full


def _is_int(v: Any) -> bool:
    return isinstance(v, int) and not isinstance(v, bool)


def type_matches(value: Any, hint: Any) -> bool:
    if hint is Any:
        return True
    origin = typing.get_origin(hint)
    targs = typing.get_args(hint)
    if origin in (typing.Union, types.UnionType):
        return any(type_matches(value, a) for a in targs)
    if origin is Literal:
        return value in targs
    if origin is list:
        return isinstance(value, list) and all(type_matches(v, targs[0]) for v in value) if targs else isinstance(value, list)
    if origin is dict:
        if not isinstance(value, dict):
            return False
        return not targs or all(type_matches(k, targs[0]) and type_matches(v, targs[1]) for k, v in value.items())
    if hint is type(None):
        return value is None
    if hint is bool:
        return isinstance(value, bool)
    if hint is int:
        return _is_int(value)
    if hint is float:
        return _is_int(value) or isinstance(value, float)
    if isinstance(hint, type):
        return isinstance(value, hint)
    return True


def describe(hint: Any) -> str:
    origin = typing.get_origin(hint)
    targs = typing.get_args(hint)
    if origin in (typing.Union, types.UnionType):
        return " or ".join(describe(a) for a in targs)
    if origin is Literal:
        return "one of " + ", ".join(repr(a) for a in targs)
    if origin is list:
        return f"a list of {describe(targs[0])}" if targs else "a list"
    if origin is dict:
        return "a mapping"
    if hint is type(None):
        return "null"
    return getattr(hint, "__name__", str(hint))


def check_shape(config: PipelineConfig) -> None:
    """A reader first, the writer last, neither in between."""
    classes = [STAGES[s.name] for s in config.stages]
    if not issubclass(classes[0], Reader):
        readers = ", ".join(n for n, c in STAGES.items() if issubclass(c, Reader))
        raise ConfigError(f"stages[0]: the first stage must be a reader ({readers}), got {config.stages[0].name!r}")
    if classes[-1] is not ParquetWriter:
        raise ConfigError(f"stages[{len(classes) - 1}]: the last stage must be parquet_writer, got {config.stages[-1].name!r}")
    for i, cls in enumerate(classes[1:-1], start=1):
        if issubclass(cls, Reader) or cls is ParquetWriter:
            raise ConfigError(f"stages[{i}]: {config.stages[i].name} may only be the first or last stage")
