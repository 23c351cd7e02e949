"""`corpusforge export-tokens TOKENS --format megatron|nanogpt --output DIR`: token shards in
the files other trainers read, token for token the same stream.

- `megatron`: Megatron-LM's indexed dataset (`megatron/core/datasets/indexed_dataset.py`), one
  prefix per split, `DIR/train.bin` + `DIR/train.idx` (and `val.*`). The `.bin` holds the tokens;
  the `.idx` is the 9-byte magic `MMIDIDX\\x00\\x00`, a little-endian u64 version (1), a u8 dtype
  code (Megatron's `DType`), a u64 sequence count, a u64 count of document-index entries, then
  the int32 length of every sequence, the int64 byte offset of every sequence in the `.bin`, and
  the int64 document index (0, then the sequence count after each document). One sequence per
  document, EOS included: what `tools/preprocess_data.py --append-eod` writes, and what GPTDataset
  needs, since it packs documents back to back with no separator of its own.
- `nanogpt`: `DIR/train.bin` and `DIR/val.bin`, the uint16 token stream with EOS after every
  document (as nanoGPT's `data/openwebtext/prepare.py` writes it), and `DIR/meta.pkl` whose
  `vocab_size` nanoGPT's `train.py` reads.

A tokenized mixture (`tokenize --mixture`) exports to Megatron only, one indexed dataset per source,
`DIR/<source>/train.bin|.idx` (and `val.*`), and the blend that Megatron's `--data-path` takes,
"w1 DIR/<source1>/train w2 DIR/<source2>/train ...", whose weights are the mixture's resolved
shares (`mixture.json`), the shares corpusforge's own training draws: Megatron normalises the
weights and draws each source's samples, all of seq_length tokens, in those proportions, so a
weight is a share of the training tokens, and an `epochs` source holds its epochs at the mixture's
`exact_budget` (a run of another length repeats every source alike, as `train` does). The blend is
written to `DIR/data_path.txt` (for `--data-args-path`, or `--data-path $(cat ...)`) and, with the
held-out splits, to `DIR/data_paths.json` (for `--per-split-data-args-path`). nanoGPT reads one
token stream with no blend, so a mixture is refused there: export one source folder instead.

Both also get the tokenizer (tokenizer.json, byte for byte the one the shards were made with, and
the transformers files beside it), so DIR decodes on its own and is an `AutoTokenizer` folder.

Megatron has no uint32 code, so uint32 shards (vocabularies above 65,536) export as int32; nanoGPT
memmaps uint16 unconditionally, so a larger vocabulary is refused there. Tokens stream through in
chunks (no split is ever held in memory), and each file is written under a temporary name and
renamed when whole; `export.json`, written last, says the export is complete.
"""

from __future__ import annotations

import json
import pickle
import shlex
import shutil
import struct
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Any, BinaryIO

import numpy as np

from corpusforge.errors import TokenizerError
from corpusforge.io.atomic import atomic_path, write_json_atomic, write_text_atomic
from corpusforge.io.paths import sha256_file
from corpusforge.io.run_folder import RunFolder
from corpusforge.tokenizer.artifact import (
    HF_CONFIG_FILE,
    SPECIAL_TOKENS_FILE,
    TOKENIZER_FILE,
    write_hf_files,
)
from corpusforge.tokenizer.mixture import Mixture, is_mixture, read_mixture
from corpusforge.tokenizer.shards import TokenShards
from corpusforge.tokenizer.tokenize import SETTINGS_FILE, SPLITS, SUMMARY_FILE, read_settings

FORMATS = ("megatron", "nanogpt")
EXPORT_FILE = "export.json"
MEGATRON_MAGIC = b"MMIDIDX\x00\x00"
MEGATRON_VERSION = 1
# Megatron-LM's DType codes for the two dtypes we write (its enum has no uint32).
MEGATRON_DTYPES = {"uint16": ("<u2", 8), "uint32": ("<i4", 4)}
NANOGPT_META = "meta.pkl"
DATA_PATH_FILE = "data_path.txt"  # a mixture's blend, for Megatron's --data-args-path
PER_SPLIT_FILE = "data_paths.json"  # per split, for --per-split-data-args-path
# Everything either format writes: --overwrite clears all of it, so no file of a previous export
# in the other format stays behind.
OUTPUT_ENTRIES = (
    *(f"{s}.{ext}" for s in SPLITS for ext in ("bin", "idx")),
    NANOGPT_META,
    DATA_PATH_FILE,
    PER_SPLIT_FILE,
    TOKENIZER_FILE,
    HF_CONFIG_FILE,
    SPECIAL_TOKENS_FILE,
    EXPORT_FILE,
)
CHUNK_TOKENS = 1 << 24  # 32-64 MiB of tokens per write
CHUNK_DOCS = 1 << 22


def export_tokens(tokens: str | Path, fmt: str, output: str | Path, overwrite: bool = False) -> dict[str, Any]:
    """Write TOKENS' splits in `fmt` into `output` (a mixture: one Megatron dataset per source and
    the blend); returns what export.json records."""
    if fmt not in FORMATS:
        raise TokenizerError(f"--format must be one of {', '.join(FORMATS)}, got {fmt!r}")
    src = Path(tokens)
    if is_mixture(src):
        if fmt == "nanogpt":
            raise TokenizerError(
                f"{src}: a tokenized mixture, but nanoGPT's train.py reads one token stream, with no weights to "
                f"blend sources by: export one source folder ({src}/<source>) with --format nanogpt, or the "
                "mixture with --format megatron (one dataset per source, blended by --data-path)"
            )
        return export_mixture(read_mixture(src), output, overwrite)
    settings, splits, tokenizer_file = _read_tokens(src)
    if fmt == "nanogpt":
        _check_nanogpt(src, settings, splits)
    out = Path(output)
    files = [f"{s}.{ext}" for s in splits for ext in (("bin", "idx") if fmt == "megatron" else ("bin",))]
    files += ([NANOGPT_META] if fmt == "nanogpt" else []) + [TOKENIZER_FILE, HF_CONFIG_FILE, SPECIAL_TOKENS_FILE]
    with RunFolder(out, "token-export", _entries(out), inputs=[str(src)]) as folder:
        folder.start(overwrite, "an export")
        counts = {}
        for split, shards in splits.items():
            if fmt == "megatron":
                write_megatron(shards, out / split, settings["vocab_size"])
            else:
                write_nanogpt_bin(shards, out / f"{split}.bin", settings["vocab_size"])
            counts[split] = {"documents": shards.num_documents, "tokens": shards.num_tokens}
        if fmt == "nanogpt":
            meta = {
                "vocab_size": settings["vocab_size"],
                "eos_id": settings["eos_id"],
                "tokenizer": settings["tokenizer"],
                "tokenizer_sha256": settings["tokenizer_sha256"],
            }
            with atomic_path(out / NANOGPT_META) as tmp:
                tmp.write_bytes(pickle.dumps(meta, protocol=4))
        _write_tokenizer(out, tokenizer_file, settings)
        info = _info(fmt, src, settings) | {"splits": counts, "files": files}
        write_json_atomic(out / EXPORT_FILE, info)
    return info


def export_mixture(mixture: Mixture, output: str | Path, overwrite: bool = False) -> dict[str, Any]:
    """Every source of a tokenized mixture as a Megatron dataset, OUTPUT/<source>/{train,val},
    and the weighted blend of their prefixes (the mixture's shares) for --data-path."""
    # every source is checked before anything is written (read_mixture: one tokenizer for all)
    sources = [(s, *_read_tokens(s.folder)) for s in mixture.sources]
    out = Path(output)
    root = out.resolve()  # absolute prefixes: the blend file works from any working directory
    if any(c.isspace() for c in str(root)):
        raise TokenizerError(
            f"{root}: Megatron splits --data-path at whitespace, so no prefix may contain any; "
            "choose an output folder whose path has no space"
        )
    settings, tokenizer_file = sources[0][1], sources[0][3]
    names = [s.name for s in mixture.sources]
    with RunFolder(out, "token-export", _entries(out, names), inputs=[str(mixture.folder)]) as folder:
        folder.start(overwrite, "an export")
        records = []
        for s, source_settings, splits, _ in sources:
            (out / s.name).mkdir(exist_ok=True)
            counts = {}
            for split, shards in splits.items():
                write_megatron(shards, out / s.name / split, source_settings["vocab_size"])
                counts[split] = {"documents": shards.num_documents, "tokens": shards.num_tokens}
            records.append({"name": s.name, "share": s.share, "weight": s.weight, "epochs": s.epochs, "splits": counts})
        _write_tokenizer(out, tokenizer_file, settings)
        blend = {
            split: data_path([(r["share"], root / r["name"] / split) for r in records if split in r["splits"]])
            for split in SPLITS
        }
        write_text_atomic(out / DATA_PATH_FILE, blend["train"] + "\n")
        # Megatron's --per-split-data-args-path reads train, valid and test, each a blend or null
        write_json_atomic(out / PER_SPLIT_FILE, {"train": blend["train"], "valid": blend["val"] or None, "test": None})
        files = [f"{r['name']}/{split}.{ext}" for r in records for split in r["splits"] for ext in ("bin", "idx")]
        info = _info("megatron", mixture.folder, settings) | {
            "mixture": True,
            "exact_budget": mixture.exact_budget,
            "sources": records,
            "data_path": blend["train"],
            "valid_data_path": blend["val"] or None,
            "files": files + [DATA_PATH_FILE, PER_SPLIT_FILE, TOKENIZER_FILE, HF_CONFIG_FILE, SPECIAL_TOKENS_FILE],
        }
        write_json_atomic(out / EXPORT_FILE, info)
    return info


def data_path(blend: list[tuple[float, Path]]) -> str:
    """Megatron's weighted blend, "w1 prefix1 w2 prefix2 ..." (it normalises the weights)."""
    return " ".join(f"{weight:.10g} {prefix}" for weight, prefix in blend)


def _read_tokens(src: Path) -> tuple[dict[str, Any], dict[str, TokenShards], Path]:
    """(settings, shards per split, tokenizer file) of a finished tokenize folder, every count
    checked against its summary, before anything is written."""
    if not (src / SETTINGS_FILE).is_file():
        raise TokenizerError(
            f"{src}: not a `corpusforge tokenize` output folder (no {SETTINGS_FILE}) nor a tokenized mixture "
            "(no mixture.json)"
        )
    settings = read_settings(src)
    if not (src / SUMMARY_FILE).is_file():
        raise TokenizerError(
            f"{src}: the tokenize run has not finished (no {SUMMARY_FILE}); run the same tokenize command "
            "again to finish it, then export"
        )
    summary = json.loads((src / SUMMARY_FILE).read_text())
    tokenizer_file = src / TOKENIZER_FILE
    if not tokenizer_file.is_file() or sha256_file(tokenizer_file) != settings["tokenizer_sha256"]:
        raise TokenizerError(
            f"{tokenizer_file} is missing or is not the tokenizer these shards were made with (the SHA-256 "
            f"{settings['tokenizer_sha256'][:12]} recorded in {SETTINGS_FILE}); tokenize again with the tokenizer you mean"
        )
    splits = {s: TokenShards(src, s) for s in SPLITS if list((src / s).glob("part-*.json"))}
    if "train" not in splits:
        raise TokenizerError(f"{src}: no train/ shards to export")
    for split in SPLITS:
        found = splits[split].num_documents if split in splits else 0
        if found != summary.get(split, {}).get("documents"):
            raise TokenizerError(
                f"{src / split}: {found:,} documents in the shards, but {SUMMARY_FILE} counts "
                f"{summary.get(split, {}).get('documents')}: shards are missing or were added"
            )
    return settings, splits, tokenizer_file


def _entries(out: Path, names: Iterable[str] = ()) -> tuple[str, ...]:
    """What --overwrite may clear: every file either format writes, this mixture's source folders
    and those of the export already there (its export.json names them)."""
    old: list[str] = []
    try:
        recorded = json.loads((out / EXPORT_FILE).read_text()).get("sources") or []
        old = [r["name"] for r in recorded if isinstance(r.get("name"), str) and "/" not in r["name"]]
    except (OSError, ValueError, AttributeError, TypeError):
        pass  # no export there (or not ours: RunFolder refuses it before anything is cleared)
    return (*OUTPUT_ENTRIES, *dict.fromkeys([*names, *old]))


def _write_tokenizer(out: Path, tokenizer_file: Path, settings: dict[str, Any]) -> None:
    # The tokenizer beside the tokens (byte for byte the one they were made with), so the
    # folder decodes on its own and is an AutoTokenizer folder (Megatron's HuggingFaceTokenizer).
    with atomic_path(out / TOKENIZER_FILE) as tmp:
        shutil.copyfile(tokenizer_file, tmp)
    write_hf_files(out, settings["eos"])


def _info(fmt: str, src: Path, settings: dict[str, Any]) -> dict[str, Any]:
    return {
        "format": fmt,
        "source": str(src),
        "tokenizer": settings["tokenizer"],
        "tokenizer_sha256": settings["tokenizer_sha256"],
        "vocab_size": settings["vocab_size"],
        "eos_id": settings["eos_id"],
        "source_dtype": settings["dtype"],
        "dtype": MEGATRON_DTYPES[settings["dtype"]][0] if fmt == "megatron" else "<u2",
    }


def _check_nanogpt(src: Path, settings: dict[str, Any], splits: dict[str, TokenShards]) -> None:
    if settings["vocab_size"] > 1 << 16:  # uint32 shards of a smaller vocabulary convert: every id fits
        raise TokenizerError(
            f"{src}: the tokenizer has {settings['vocab_size']:,} tokens ({settings['dtype']} shards), but "
            "nanoGPT's train.py reads train.bin as uint16 (ids below 65,536): it would read junk. "
            "Use --format megatron (int32), or a tokenizer of at most 65,536 tokens"
        )
    if "val" not in splits:
        raise TokenizerError(
            f"{src}: no val/ shards, and nanoGPT's train.py reads val.bin at every evaluation; "
            "tokenize with --val-fraction > 0 (e.g. 0.01)"
        )


def _chunks(shards: TokenShards, dtype: str, vocab_size: int) -> Iterator[np.ndarray]:
    """The split's token stream, shard by shard, CHUNK_TOKENS at a time, as `dtype`; an id the
    vocabulary does not have is an error naming the shard (a corrupt or foreign file)."""
    for header, tokens in zip(shards.headers, shards.tokens):
        for start in range(0, len(tokens), CHUNK_TOKENS):
            chunk = tokens[start : start + CHUNK_TOKENS]
            if int(chunk.max()) >= vocab_size:
                raise TokenizerError(
                    f"{shards.folder / header['bin']}: token id {int(chunk.max())} is not below the "
                    f"vocabulary size {vocab_size:,}"
                )
            yield chunk.astype(dtype, copy=False)


def write_nanogpt_bin(shards: TokenShards, path: Path, vocab_size: int) -> None:
    with atomic_path(path) as tmp, open(tmp, "wb") as f:
        for chunk in _chunks(shards, "<u2", vocab_size):
            f.write(chunk.tobytes())


def write_megatron(shards: TokenShards, prefix: Path, vocab_size: int) -> None:
    """PREFIX.bin and PREFIX.idx; the index is streamed shard by shard, one section at a time."""
    dtype, code = MEGATRON_DTYPES[shards.dtype.name]
    itemsize = np.dtype(dtype).itemsize
    with atomic_path(prefix.with_suffix(".bin")) as tmp, open(tmp, "wb") as f:
        for chunk in _chunks(shards, dtype, vocab_size):
            f.write(chunk.tobytes())
    docs = shards.num_documents
    with atomic_path(prefix.with_suffix(".idx")) as tmp, open(tmp, "wb") as f:
        f.write(MEGATRON_MAGIC)
        f.write(struct.pack("<Q", MEGATRON_VERSION))
        f.write(struct.pack("<B", code))
        f.write(struct.pack("<Q", docs))  # sequences: one per document
        f.write(struct.pack("<Q", docs + 1))  # document index entries: a leading 0, then one per document
        for header, ends in zip(shards.headers, shards.ends):
            lengths = np.diff(np.asarray(ends, dtype=np.int64), prepend=0)
            if len(lengths) and int(lengths.max()) > np.iinfo(np.int32).max:
                raise TokenizerError(
                    f"{shards.folder / header['bin']}: a document of {int(lengths.max()):,} tokens does not "
                    "fit Megatron's int32 sequence lengths"
                )
            f.write(lengths.astype("<i4").tobytes())
        offset = 0  # tokens before this shard, over the whole split
        for ends in shards.ends:
            starts = np.concatenate([[0], np.asarray(ends[:-1], dtype=np.int64)]) + offset
            f.write((starts * itemsize).astype("<i8").tobytes())
            offset += int(ends[-1])
        _write_range(f, 0, docs + 1)


def _write_range(f: BinaryIO, start: int, stop: int) -> None:
    for a in range(start, stop, CHUNK_DOCS):
        f.write(np.arange(a, min(a + CHUNK_DOCS, stop), dtype="<i8").tobytes())


def usage(info: dict[str, Any], output: str | Path) -> str:
    """What to tell the other trainer, printed after an export."""
    out = Path(output)
    if info.get("mixture"):
        return _mixture_usage(info, out)
    lines = []
    for split, c in info["splits"].items():
        lines.append(f"{split:<6} {c['documents']:>10,} documents {c['tokens']:>14,} tokens")
    eos = f"EOS id {info['eos_id']} ends every document"
    if info["format"] == "megatron":
        code = dict(MEGATRON_DTYPES.values())[info["dtype"]]
        lines.insert(0, f"Megatron-LM indexed dataset ({np.dtype(info['dtype']).name}, DType code {code}) → {out}/")
        lines.append(f"{eos} (as preprocess_data.py --append-eod); vocabulary {info['vocab_size']:,} tokens")
        train, val = (shlex.quote(str(out / s)) for s in ("train", "val"))
        tok = shlex.quote(str(out))
        lines.append(
            f"Megatron-LM: --data-path {train} --split 100,0,0 --tokenizer-type HuggingFaceTokenizer --tokenizer-model {tok}"
        )
        if "val" in info["splits"]:
            lines.append(f"  or, with the held-out split: --train-data-path {train} --valid-data-path {val}")
    else:
        lines.insert(0, f"nanoGPT train.bin / val.bin (uint16) + meta.pkl → {out}/")
        lines.append(f"{eos}; meta.pkl vocab_size {info['vocab_size']:,}")
        lines.append(f"nanoGPT: put {out} at nanoGPT/data/NAME/ and run train.py with dataset=NAME")
    return "\n".join(lines)


def _mixture_usage(info: dict[str, Any], out: Path) -> str:
    code = dict(MEGATRON_DTYPES.values())[info["dtype"]]
    lines = [
        f"Megatron-LM indexed datasets, one per source ({np.dtype(info['dtype']).name}, DType code {code}) "
        f"→ {out}/<source>/",
        f"{'source':<12} {'share':>7} {'documents':>10} {'train tokens':>14} {'val tokens':>12}",
    ]
    for r in info["sources"]:
        docs = sum(c["documents"] for c in r["splits"].values())
        val = r["splits"].get("val", {}).get("tokens", 0)
        lines.append(f"{r['name']:<12} {r['share']:>7.1%} {docs:>10,} {r['splits']['train']['tokens']:>14,} {val:>12,}")
    lines.append(f"EOS id {info['eos_id']} ends every document; vocabulary {info['vocab_size']:,} tokens")
    tok = shlex.quote(str(out.resolve()))  # absolute, as the prefixes are
    lines.append(
        f"Megatron-LM: --data-path {shlex.quote(info['data_path'])} --split 100,0,0 "
        f"--tokenizer-type HuggingFaceTokenizer --tokenizer-model {tok}"
    )
    lines.append(f"  the same blend: --data-args-path {shlex.quote(str(out / DATA_PATH_FILE))}")
    if info["valid_data_path"]:
        lines.append(
            f"  or, with the held-out splits: --per-split-data-args-path {shlex.quote(str(out / PER_SPLIT_FILE))}"
        )
    budget = info["exact_budget"]
    lines.append(
        "the weights are the mixture's shares of the training tokens (Megatron normalises them)"
        + (
            f"; the epochs asked hold at {budget:,} training tokens (--train-samples {budget} / --seq-length)"
            if budget
            else ""
        )
    )
    return "\n".join(lines)
