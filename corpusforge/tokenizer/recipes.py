"""Tokenizer recipes: small YAML files in the top-level `tokenizers/` folder (shipped in the wheel).

```yaml
name: bpe-50k
vocab_size: 50257          # everything included: 256 bytes, merges, special tokens
eos: "<|endoftext|>"       # appended after every document by `corpusforge tokenize`
pre_tokenizer: gpt2        # gpt2: GPT-2's regex splits words first | none: pieces may span words
split_digits: false        # true: every digit is its own token
max_piece_length: null     # longest piece in bytes (null: no limit)
min_frequency: 2           # a merge needs a pair seen at least this often
superword_transition: null # two stages (SuperBPE): this share of vocab_size is ordinary BPE
superword_sample_bytes: 32000000  # stage 2 learns its merges from a sample of this much text
```
Both shipped recipes train a byte-level BPE with HF `tokenizers`: every byte is in the base
vocabulary, so nothing is ever unknown and decoding is lossless. They differ only in
pre-tokenization (see the recipe files for why the multi-word one is BPE and not SentencePiece).

`superword_transition` (only with `pre_tokenizer: none`) trains in SuperBPE's two stages
(Liu et al. 2025): whitespace-pre-tokenized BPE on all the text up to that share of the
vocabulary, then merges across spaces learned from a sample of at most `superword_sample_bytes`,
so memory is bounded by the sample, not by the corpus (see `corpusforge/tokenizer/train.py`).
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Annotated, Any

from corpusforge.errors import RecipeError
from corpusforge.schema import NOT_A_KEY, Key, read_yaml, validate
from corpusforge.shipped import find_shipped

PRE_TOKENIZERS = ("gpt2", "none")
BYTE_ALPHABET = 256


@dataclass(frozen=True)
class Recipe:
    name: Annotated[str, Key(non_empty=True)]
    vocab_size: int  # at least the bytes, the special tokens and one merge: checked in `parse_recipe`
    eos: Annotated[str, Key(non_empty=True)] = "<|endoftext|>"
    special_tokens: tuple[Annotated[str, Key(non_empty=True)], ...] = ()
    pre_tokenizer: Annotated[str, Key(one_of=PRE_TOKENIZERS)] = "gpt2"
    split_digits: bool = False
    max_piece_length: Annotated[int, Key(ge=2)] | None = None
    min_frequency: Annotated[int, Key(ge=1)] = 2
    superword_transition: Annotated[float, Key(gt=0, lt=1)] | None = None
    superword_sample_bytes: Annotated[int, Key(ge=1000)] = 32_000_000
    source: str = field(default="<dict>", compare=False, metadata=NOT_A_KEY)

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
        return {k: v for k, v in asdict(self).items() if k != "source"} | {"special_tokens": list(self.special_tokens)}


def load_recipe(name_or_path: str | Path) -> Recipe:
    """A path to a YAML file, or a shipped recipe's name such as `bpe-50k`."""
    path = find_shipped("recipe", name_or_path, RecipeError)
    return parse_recipe(read_yaml(path, "tokenizer recipe", RecipeError), str(path))


def parse_recipe(data: Any, source: str) -> Recipe:
    """Validate every key with one message naming the file and the key."""
    recipe = Recipe(**validate(Recipe, data, source=source, error=RecipeError), source=source)
    floor = BYTE_ALPHABET + len(recipe.all_special_tokens) + 1
    if recipe.vocab_size < floor:
        raise RecipeError(
            f"{source}: vocab_size: expected an integer >= {floor} (256 bytes, "
            f"{len(recipe.all_special_tokens)} special token(s) and at least one merge), "
            f"got {recipe.vocab_size!r}"
        )
    if recipe.superword_transition is not None and recipe.pre_tokenizer != "none":
        raise RecipeError(
            f"{source}: superword_transition: needs pre_tokenizer: none (stage 2 merges across spaces), "
            f"got pre_tokenizer: {recipe.pre_tokenizer}"
        )
    return recipe
