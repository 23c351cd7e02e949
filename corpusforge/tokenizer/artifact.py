"""A trained tokenizer on disk, and loading one back.

```
DIR/
  tokenizer.json          HF tokenizers' single-file format: Tokenizer.from_file and
                          transformers' PreTrainedTokenizerFast load it
  tokenizer_config.json   what transformers' AutoTokenizer needs besides it (class, special tokens)
  special_tokens_map.json bos, eos and pad: all three are EOS (id 0 in both recipes), as GPT-2's
  training.json           the resolved recipe, the input shards, how much text, time, memory
```
A tokenizer is identified by the SHA-256 of its tokenizer.json: token shards record it, so
shards made with different tokenizers can never be mixed silently.

A literal "<|endoftext|>" in a document is text, never EOS: EOS is only where `tokenize` puts
it, after each document. So that every route reads text the same way, tokenizer.json lists no
special token among its `added_tokens` (they stay in the vocabulary, so `token_to_id` and decoding
know them): an added token would match its literal text in `PreTrainedTokenizerFast(tokenizer_file=...)`,
which reads no config; AutoTokenizer, which registers EOS from tokenizer_config.json, is told
`split_special_tokens: true`. Nothing adds a BOS or EOS when encoding (no post-processor).
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from tokenizers import Tokenizer

from corpusforge.errors import TokenizerError
from corpusforge.io.atomic import atomic_path, write_json_atomic
from corpusforge.io.paths import AnyPath, sha256_file

TOKENIZER_FILE = "tokenizer.json"
HF_CONFIG_FILE = "tokenizer_config.json"
SPECIAL_TOKENS_FILE = "special_tokens_map.json"
TRAINING_FILE = "training.json"


@dataclass
class LoadedTokenizer:
    tokenizer: Tokenizer
    path: Path  # the tokenizer.json
    name: str
    sha256: str
    eos: str
    eos_id: int
    training: dict[str, Any] = field(default_factory=dict)

    @property
    def vocab_size(self) -> int:
        return self.tokenizer.get_vocab_size(with_added_tokens=True)


def hf_special_tokens(eos: str) -> dict[str, str]:
    """special_tokens_map.json: documents are separated by EOS alone (no BOS of their own, as
    GPT-2's), and padding, masked out anyway, reuses it."""
    return {"bos_token": eos, "eos_token": eos, "pad_token": eos}


def hf_tokenizer_config(eos: str) -> dict[str, Any]:
    """tokenizer_config.json for transformers: no space clean-up (it would change the text), and
    a literal "<|endoftext|>" inside a document stays text, as `corpusforge tokenize` encodes it."""
    return {
        "tokenizer_class": "PreTrainedTokenizerFast",
        **hf_special_tokens(eos),
        "clean_up_tokenization_spaces": False,
        "split_special_tokens": True,
        "model_max_length": 1_000_000_000,  # documents may be longer than the context; tools window them
    }


def write_hf_files(folder: AnyPath, eos: str) -> None:
    """tokenizer_config.json and special_tokens_map.json beside a tokenizer.json."""
    write_json_atomic(folder / HF_CONFIG_FILE, hf_tokenizer_config(eos))
    write_json_atomic(folder / SPECIAL_TOKENS_FILE, hf_special_tokens(eos))


def text_only_json(tokenizer_json: str) -> str:
    """The tokenizer.json with its special tokens left out of `added_tokens` (see the module
    docstring): the same ids for every text, by every route."""
    data = json.loads(tokenizer_json)
    data["added_tokens"] = [t for t in data.get("added_tokens", []) if not t.get("special")]
    return Tokenizer.from_str(json.dumps(data)).to_str(pretty=True)


def save_tokenizer(tokenizer: Tokenizer, folder: Path, eos: str, training: dict[str, Any]) -> str:
    """Write the four files atomically (tokenizer.json last, so a folder that has it is whole);
    returns the tokenizer's SHA-256."""
    write_hf_files(folder, eos)
    data = text_only_json(tokenizer.to_str()).encode("utf-8")
    sha = hashlib.sha256(data).hexdigest()
    write_json_atomic(folder / TRAINING_FILE, training | {"sha256": sha})
    with atomic_path(folder / TOKENIZER_FILE) as tmp:
        tmp.write_bytes(data)
    return sha


def load_tokenizer(path: str | Path) -> LoadedTokenizer:
    """A folder from `train-tokenizer` (or any folder with tokenizer.json and an EOS token named
    in tokenizer_config.json), or a tokenizer.json file next to such metadata."""
    path = Path(path)
    file = path / TOKENIZER_FILE if path.is_dir() else path
    if not file.is_file():
        raise TokenizerError(
            f"no tokenizer at {path}: expected a folder made by `corpusforge train-tokenizer` "
            f"(holding {TOKENIZER_FILE}) or a {TOKENIZER_FILE} file"
        )
    folder = file.parent
    training = _read_json(folder / TRAINING_FILE)
    hf_config = _read_json(folder / HF_CONFIG_FILE)
    eos = training.get("recipe", {}).get("eos") or _token_text(hf_config.get("eos_token"))
    if not eos:
        raise TokenizerError(
            f"{folder}: no EOS token named (neither {TRAINING_FILE} nor {HF_CONFIG_FILE} "
            "says which token ends a document)"
        )
    try:
        tokenizer = Tokenizer.from_file(str(file))
    except Exception as exc:  # noqa: BLE001 - the Rust error text is all we get
        raise TokenizerError(f"{file}: cannot load: {exc}") from None
    eos_id = tokenizer.token_to_id(eos)
    if eos_id is None:
        raise TokenizerError(f"{file}: the EOS token {eos!r} is not in the vocabulary")
    # Document text must never turn into control tokens: a literal "<|endoftext|>" in a web
    # page is encoded as its bytes, so EOS appears only where tokenize puts it (tokenizer.json
    # says so too; this covers folders saved before it did).
    tokenizer.encode_special_tokens = True
    name = training.get("recipe", {}).get("name") or folder.name
    return LoadedTokenizer(
        tokenizer=tokenizer, path=file, name=name, sha256=sha256_file(file), eos=eos, eos_id=eos_id, training=training
    )


def _read_json(path: Path) -> dict[str, Any]:
    if not path.is_file():
        return {}
    try:
        data = json.loads(path.read_text())
    except json.JSONDecodeError as exc:
        raise TokenizerError(f"{path}: not valid JSON: {exc}") from None
    return data if isinstance(data, dict) else {}


def _token_text(token: Any) -> str | None:
    """tokenizer_config.json names a token as a string or as an AddedToken dict."""
    if isinstance(token, dict):
        return token.get("content")
    return token if isinstance(token, str) else None
