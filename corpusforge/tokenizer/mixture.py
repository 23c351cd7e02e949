"""Mixtures: several corpora, each tokenized on its own, trained on in fixed proportions.

```yaml
sources:
  - {name: web,   input: "output/massivetext/data/*.parquet", weight: 0.7}
  - {name: books, input: "corpora/books/*.parquet", epochs: 2}
  - {name: code,  input: ["corpora/code/*.jsonl.gz", "corpora/more-code/*.parquet"], weight: 0.1, text_key: content}
```
Each source has a name (a folder name: letters, digits, `_`, `-`), an input (what `tokenize`
reads: Parquet shards or JSON Lines files, plain or compressed; a glob or a list of globs,
relative to where corpusforge runs), optionally a `text_key` (the text column or field, default
tokenize's --text-key) and exactly one of:

- `weight`: the fraction of the training tokens drawn from it, whatever its size (Gopher's
  MassiveText rule, Table 2: a small source is repeated, a large one partly unseen);
- `epochs`: how many times its tokens are seen (the Pile's rule, Table 1).

Resolution (once, when `corpusforge tokenize --mixture` has counted every source's tokens N):
the weighted sources take their weights; the epochs sources share the rest, 1 - sum(weights),
in proportion to epochs x N. So the epochs hold exactly for the budget
`exact_budget` = sum(epochs x N) / (1 - sum(weights)), which `corpusforge plan` proposes; a run
of another length keeps the shares and scales every source's epochs alike (training warns
when an epochs source then drifts from what was asked). With weights only, they must sum to 1;
with epochs sources too, to less than 1. A source never runs out: windows are drawn with
replacement, so a source asked for more tokens than it holds is repeated, and training warns
above MAX_EPOCHS repeats (Muennighoff et al. 2023, "Scaling Data-Constrained Language Models":
up to ~4 epochs are worth almost as much as fresh tokens, beyond that quickly less).

On disk (`--output MIX`): MIX/<name>/ is a complete `corpusforge tokenize` folder per source;
MIX/mixture.yaml the validated file with its resolved inputs (the run's fingerprint);
MIX/mixture.json the manifest: every source's tokens and its resolved share. A training config
whose `data:` is MIX trains on the mixture; `export-tokens MIX --format megatron` writes one
Megatron dataset per source and the blend of the same shares (export.py).
"""

from __future__ import annotations

import json
import math
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated, Any

from corpusforge.errors import ConfigError, TokenizerError, TrainError
from corpusforge.io.atomic import write_json_atomic
from corpusforge.io.run_folder import Fingerprint, RunFolder, read_fingerprint
from corpusforge.schema import Key, read_yaml, validate
from corpusforge.tokenizer.artifact import load_tokenizer
from corpusforge.tokenizer.corpus import resolve_shards
from corpusforge.tokenizer.shards import SETTINGS_FILE, output_folder

MANIFEST = "mixture.json"
SETTINGS = "mixture.yaml"
FORMAT = "corpusforge.mixture/1"
MAX_EPOCHS = 4.0
WEIGHT_SUM_TOLERANCE = 0.01  # 0.33 + 0.33 + 0.33 is a sensible 1
EPOCHS_DRIFT = 0.05  # an epochs source drawn more than 5 % off what was asked is worth a warning
_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9_-]*")


@dataclass
class MixtureKeys:
    sources: Annotated[list, Key(non_empty=True, doc="a list of {name, input, weight | epochs}")]


@dataclass
class SourceKeys:
    name: Annotated[str, Key(non_empty=True, doc="the source's folder name")]
    input: Annotated[str | list[str], Key(doc="Parquet or JSON Lines files: a glob or a list of globs")]
    weight: Annotated[float, Key(gt=0)] | None = None
    epochs: Annotated[float, Key(gt=0)] | None = None
    text_key: Annotated[str, Key(non_empty=True, doc="the text column or field (default: --text-key)")] | None = None


@dataclass(frozen=True)
class SourceSpec:
    name: str
    input: list[str]
    files: list[str]
    weight: float | None
    epochs: float | None
    text_key: str | None = None


def load_mixture(path: str | Path) -> list[SourceSpec]:
    """Read and validate a mixture file, its globs resolved: every error names the file and
    the source, before any work."""
    where = str(path)
    keys = validate(MixtureKeys, read_yaml(path, "mixture file"), source=where)
    specs: list[SourceSpec] = []
    owner: dict[str, str] = {}  # file → the source that matched it first
    for i, raw in enumerate(keys["sources"]):
        name = raw.get("name") if isinstance(raw, dict) else None
        at = f"sources.{name}" if isinstance(name, str) and name else f"sources[{i}]"
        s = validate(SourceKeys, raw, at, where)
        if not _NAME.fullmatch(s["name"]):
            raise ConfigError(f"{where}: {at}: a name is a folder name (letters, digits, _ and -), got {s['name']!r}")
        if any(p.name == s["name"] for p in specs):
            raise ConfigError(f"{where}: {at}: two sources are named {s['name']!r}")
        if (s["weight"] is None) == (s["epochs"] is None):
            raise ConfigError(f"{where}: {at}: give exactly one of 'weight' and 'epochs'")
        patterns = [s["input"]] if isinstance(s["input"], str) else s["input"]
        if not patterns:
            raise ConfigError(f"{where}: {at}.input: no glob given")
        try:
            files = resolve_shards(patterns, flag=f"{where}: {at}.input")
        except TokenizerError as exc:  # a glob matching nothing, or a file tokenize cannot read
            raise ConfigError(str(exc)) from None
        for f in files:
            if f in owner and owner[f] != s["name"]:
                raise ConfigError(f"{where}: {at}.input matches {f}, which source {owner[f]!r} already has")
            owner[f] = s["name"]
        specs.append(SourceSpec(s["name"], patterns, files, s["weight"], s["epochs"], s["text_key"]))
    weights = sum(s.weight for s in specs if s.weight is not None)
    by_epochs = [s.name for s in specs if s.epochs is not None]
    if not by_epochs and abs(weights - 1.0) > WEIGHT_SUM_TOLERANCE + 1e-9:
        raise ConfigError(
            f"{where}: the weights sum to {weights:.4g}, not 1: a weight is the fraction of the training "
            "tokens drawn from its source (or give a source epochs instead, to take what is left)"
        )
    if by_epochs and weights >= 1.0:
        raise ConfigError(
            f"{where}: the weights sum to {weights:.4g}, leaving nothing for the epochs source(s) "
            f"{', '.join(by_epochs)}: weights must sum to less than 1 when some sources give epochs"
        )
    return specs


@dataclass(frozen=True)
class Source:
    """One source of a tokenized mixture, as the manifest records it."""

    name: str
    folder: Path
    share: float  # of the training tokens
    train_tokens: int
    val_tokens: int
    weight: float | None
    epochs: float | None  # as asked

    def epochs_at(self, budget: float) -> float:
        return self.share * budget / self.train_tokens


@dataclass(frozen=True)
class Mixture:
    folder: Path
    sources: list[Source]
    manifest: dict[str, Any]

    @property
    def shares(self) -> list[float]:
        return [s.share for s in self.sources]

    @property
    def exact_budget(self) -> int | None:
        """Training tokens at which every epochs source is seen exactly its epochs (None: weights only)."""
        return self.manifest["exact_budget"]

    @property
    def default_budget(self) -> int:
        """What `plan` sizes for: the exact budget, or with weights only the largest budget
        that repeats no source."""
        return self.exact_budget or int(min(s.train_tokens / s.share for s in self.sources))

    def warnings(self, budget: int) -> list[str]:
        """What a run of `budget` training tokens should be told about the mixture."""
        out = []
        for s in self.sources:
            e = s.epochs_at(budget)
            if s.epochs is not None and abs(e / s.epochs - 1) > EPOCHS_DRIFT:
                out.append(
                    f"mixture source {s.name}: asked for {s.epochs:g} epochs, {budget:,} training tokens draw "
                    f"{e:.3g} (the shares hold; max_tokens {self.exact_budget:,} draws the epochs as asked)"
                )
            if e > MAX_EPOCHS:
                out.append(
                    f"mixture source {s.name}: {budget:,} training tokens repeat its {s.train_tokens:,} tokens "
                    f"{e:.3g} times (more than {MAX_EPOCHS:g} epochs are worth much less than fresh tokens)"
                )
        return out


def resolve_shares(specs: list[SourceSpec], tokens: list[int]) -> tuple[list[float], int | None]:
    """(share of each source, the exact budget or None), from the sources' training tokens."""
    weights = sum(s.weight for s in specs if s.weight is not None)
    wanted = [s.epochs * n if s.epochs is not None else 0.0 for s, n in zip(specs, tokens)]
    if not any(wanted):  # weights only: the small tolerance on their sum is normalized away
        return [s.weight / weights for s in specs], None
    rest = 1.0 - weights
    shares = [s.weight if s.weight is not None else rest * w / sum(wanted) for s, w in zip(specs, wanted)]
    return shares, math.ceil(sum(wanted) / rest)


def tokenize_mixture(
    tokenizer: str | Path,
    mixture: str | Path,
    output: str | Path,
    overwrite: bool = False,
    quiet: bool = False,
    **options: Any,
) -> dict[str, Any]:
    """Tokenize every source of a mixture file into OUTPUT/<name>/ (resumable, as `tokenize`)
    and write OUTPUT/mixture.json; `options` are `tokenize`'s (workers, val_fraction, seed, ...)."""
    from corpusforge.tokenizer.tokenize import tokenize

    specs = load_mixture(mixture)
    loaded = load_tokenizer(tokenizer)
    out = output_folder(output)
    settings = {
        "format": FORMAT,
        "tokenizer_sha256": loaded.sha256,
        # tokenize's defaults spelled out: the same run given with or without them is the same run
        "options": {"val_fraction": 0.0, "seed": 0, "dtype": "auto", "text_key": "text"}
        | {k: options[k] for k in ("val_fraction", "seed", "dtype", "text_key") if k in options},
        "sources": [
            # text_key only where given, so a mixture tokenized before sources had one resumes
            {"name": s.name, "input": s.input, "files": s.files, "weight": s.weight, "epochs": s.epochs}
            | ({"text_key": s.text_key} if s.text_key else {})
            for s in specs
        ],
    }
    fingerprint = Fingerprint(SETTINGS, settings)
    old = read_fingerprint(out / SETTINGS).get("sources", []) if (out / SETTINGS).is_file() else []
    names = [s.name for s in specs] + [s["name"] for s in old if isinstance(s, dict) and "name" in s]
    folder = RunFolder(
        out, "token-mixture", (SETTINGS, MANIFEST, *dict.fromkeys(names)), inputs=[f for s in specs for f in s.files]
    )
    with folder:
        folder.start(overwrite, "a tokenized mixture made with other settings", fingerprint)
        folder.save(fingerprint)
        summaries = []
        for s in specs:
            if not quiet:
                print(f"source {s.name}: {len(s.files)} shard(s)", flush=True)
            own = options | ({"text_key": s.text_key} if s.text_key else {})
            summaries.append(tokenize(tokenizer, s.files, out / s.name, quiet=quiet, **own))
        tokens = [summary["train"]["tokens"] for summary in summaries]
        empty = [s.name for s, n in zip(specs, tokens) if n == 0]
        if empty:
            raise TokenizerError(f"{mixture}: source(s) {', '.join(empty)} hold no training tokens")
        shares, budget = resolve_shares(specs, tokens)
        manifest = {
            "format": FORMAT,
            "tokenizer": loaded.name,
            "tokenizer_sha256": loaded.sha256,
            "exact_budget": budget,
            "sources": [
                {
                    "name": s.name,
                    "folder": s.name,
                    "weight": s.weight,
                    "epochs": s.epochs,
                    "share": share,
                    "train_tokens": summary["train"]["tokens"],
                    "val_tokens": summary["val"]["tokens"],
                    "documents": summary["train"]["documents"] + summary["val"]["documents"],
                }
                for s, share, summary in zip(specs, shares, summaries)
            ],
        }
        write_json_atomic(out / MANIFEST, manifest)
    return manifest


def is_mixture(folder: str | Path) -> bool:
    return (Path(folder) / MANIFEST).is_file()


def read_mixture(folder: str | Path) -> Mixture:
    """A tokenized mixture (MIX/mixture.json and its source folders). Every source must have been
    tokenized with the manifest's tokenizer (its tokenize.json says which): one id means one token
    across the mixture, for training and for export alike."""
    folder = Path(folder)
    try:
        manifest = json.loads((folder / MANIFEST).read_text())
    except (OSError, ValueError) as exc:
        raise TrainError(f"{folder / MANIFEST}: not a readable mixture manifest ({exc})") from None
    if not isinstance(manifest, dict) or manifest.get("format") != FORMAT:
        raise TrainError(f"{folder / MANIFEST}: not a {FORMAT} manifest")
    sources = [
        Source(
            name=s["name"],
            folder=folder / s["folder"],
            share=s["share"],
            train_tokens=s["train_tokens"],
            val_tokens=s["val_tokens"],
            weight=s["weight"],
            epochs=s["epochs"],
        )
        for s in manifest["sources"]
    ]
    expected = str(manifest.get("tokenizer_sha256"))
    for s in sources:
        settings = s.folder / SETTINGS_FILE
        if not settings.is_file():
            raise TrainError(
                f"{folder / MANIFEST}: source {s.name}: {s.folder} is not a tokenize output (no {SETTINGS_FILE})"
            )
        found = str(read_fingerprint(settings).get("tokenizer_sha256"))
        if found != expected:
            raise TrainError(
                f"{folder / MANIFEST}: source {s.name} was tokenized with the tokenizer {found[:12]} ({settings}), "
                f"not the mixture's {manifest.get('tokenizer')} ({expected[:12]}): a mixture's sources share one "
                "tokenizer, or the same id means different tokens; tokenize the mixture again"
            )
    return Mixture(folder, sources, manifest)


def format_mixture(mixture: Mixture, budget: int, width: int = 30) -> str:
    """A table with a bar chart: each source's share, tokens drawn and epochs at `budget`."""
    lines = [
        f"mixture {mixture.folder}: {budget:,} training tokens"
        + (f" (epochs exact at {mixture.exact_budget:,})" if mixture.exact_budget else ""),
        f"{'source':<12} {'asked':>10} {'share':>7} {'tokens drawn':>15} {'tokens held':>15} {'epochs':>7}",
    ]
    for s in mixture.sources:
        asked = f"w {s.weight:g}" if s.weight is not None else f"{s.epochs:g} ep"
        bar = "█" * max(1, round(s.share * width))
        lines.append(
            f"{s.name:<12} {asked:>10} {s.share:>7.1%} {round(s.share * budget):>15,} "
            f"{s.train_tokens:>15,} {s.epochs_at(budget):>7.2f}  {bar}"
        )
    return "\n".join(lines + [f"warning: {w}" for w in mixture.warnings(budget)])
