"""Tokenizer recipes: small YAML files in the top-level `tokenizers/` folder.

```yaml
name: bpe-50k
vocab_size: 50257          # everything included: 256 bytes, merges, special tokens
eos: "<|endoftext|>"       # appended after every document by `corpusforge tokenize`
pre_tokenizer: gpt2        # gpt2: GPT-2's regex splits words first | none: pieces may span words
split_digits: false        # true: every digit is its own token
max_piece_length: null     # longest piece in bytes (null: no limit)
min_frequency: 2           # a merge needs a pair seen at least this often
```
Both shipped recipes train a byte-level BPE with HF `tokenizers`: every byte is in the base
vocabulary, so nothing is ever unknown and decoding is lossless. They differ only in
pre-tokenization (see the recipe files for why the multi-word one is BPE and not SentencePiece).
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import yaml

from corpusforge.errors import RecipeError

# Recipes ship in <repo>/tokenizers/; a bare name is looked up there (and in ./tokenizers/).
RECIPE_DIR = Path(__file__).resolve().parents[2] / "tokenizers"
PRE_TOKENIZERS = ("gpt2", "none")
BYTE_ALPHABET = 256


@dataclass(frozen=True)
class Recipe:
    name: str
    vocab_size: int
    eos: str = "<|endoftext|>"
    special_tokens: tuple[str, ...] = ()
    pre_tokenizer: str = "gpt2"
    split_digits: bool = False
    max_piece_length: int | None = None
    min_frequency: int = 2
    source: str = field(default="<dict>", compare=False)

    @property
    def all_special_tokens(self) -> list[str]:
        """EOS first, so it gets id 0 in every vocabulary trained from a recipe."""
        return [self.eos] + [t for t in self.special_tokens if t != self.eos]

    def with_vocab_size(self, vocab_size: int | None) -> Recipe:
        if vocab_size is None:
            return self
        data = self.to_dict() | {"vocab_size": vocab_size}
        return parse_recipe(data, f"{self.source} with --vocab-size {vocab_size}")

    def to_dict(self) -> dict[str, Any]:
        d = asdict(self)
        d.pop("source")
        d["special_tokens"] = list(self.special_tokens)
        return d


def find_recipe(name_or_path: str | Path) -> Path:
    """A path to a YAML file, or a recipe name such as `bpe-50k`."""
    path = Path(name_or_path)
    candidates = [path] if path.suffix in (".yaml", ".yml") else []
    candidates += [Path("tokenizers") / f"{path.name}.yaml", RECIPE_DIR / f"{path.name}.yaml"]
    for c in candidates:
        if c.is_file():
            return c
    known = sorted(p.stem for p in RECIPE_DIR.glob("*.yaml"))
    raise RecipeError(f"tokenizer recipe not found: {name_or_path} (shipped recipes: {', '.join(known) or 'none'})")


def load_recipe(name_or_path: str | Path) -> Recipe:
    path = find_recipe(name_or_path)
    try:
        data = yaml.safe_load(path.read_text())
    except yaml.YAMLError as exc:
        raise RecipeError(f"{path}: not valid YAML: {exc}") from None
    return parse_recipe(data, str(path))


def parse_recipe(data: Any, source: str) -> Recipe:
    """Validate every key with one message naming the file and the key."""
    if not isinstance(data, dict):
        raise RecipeError(f"{source}: a recipe must be a mapping of keys")
    known = [f for f in Recipe.__dataclass_fields__ if f != "source"]
    unknown = sorted(set(data) - set(known))
    if unknown:
        raise RecipeError(f"{source}: unknown key(s) {unknown}; known: {', '.join(known)}")
    for key in ("name", "vocab_size"):
        if key not in data:
            raise RecipeError(f"{source}: missing required key {key!r}")

    def check(key: str, ok: bool, expected: str) -> None:
        if key in data and not ok:
            raise RecipeError(f"{source}: {key}: expected {expected}, got {data[key]!r}")

    def is_int(v: Any) -> bool:
        return isinstance(v, int) and not isinstance(v, bool)

    check("name", isinstance(data.get("name"), str) and data.get("name"), "a non-empty string")
    check("eos", isinstance(data.get("eos"), str) and data.get("eos"), "a non-empty string")
    specials = data.get("special_tokens", [])
    check("special_tokens", isinstance(specials, list) and all(isinstance(t, str) and t for t in specials),
          "a list of non-empty strings")
    check("pre_tokenizer", data.get("pre_tokenizer") in PRE_TOKENIZERS, f"one of {', '.join(PRE_TOKENIZERS)}")
    check("split_digits", isinstance(data.get("split_digits"), bool), "true or false")
    check("max_piece_length", data.get("max_piece_length") is None or
          (is_int(data.get("max_piece_length")) and data["max_piece_length"] >= 2), "null or an integer >= 2")
    check("min_frequency", is_int(data.get("min_frequency")) and data.get("min_frequency", 0) >= 1,
          "an integer >= 1")
    recipe = Recipe(**{k: tuple(v) if k == "special_tokens" else v for k, v in data.items()}, source=source)

    floor = BYTE_ALPHABET + len(recipe.all_special_tokens) + 1
    if not is_int(recipe.vocab_size) or recipe.vocab_size < floor:
        raise RecipeError(f"{source}: vocab_size: expected an integer >= {floor} (256 bytes, "
                          f"{len(recipe.all_special_tokens)} special token(s) and at least one merge), "
                          f"got {recipe.vocab_size!r}")
    return recipe
