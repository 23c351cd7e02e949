"""`corpusforge generate CHECKPOINT --prompt TEXT`: sample a continuation from a trained model."""

from __future__ import annotations

from pathlib import Path

import torch
from tokenizers import Tokenizer

from corpusforge.errors import TrainError
from corpusforge.train.checkpoint import load_model


def generate(
    checkpoint: str | Path,
    prompt: str,
    max_new_tokens: int = 100,
    temperature: float = 0.8,
    top_k: int | None = 50,
    seed: int = 0,
    device: str = "cpu",
) -> str:
    """The prompt followed by up to max_new_tokens sampled tokens (stopping at EOS), as text.
    An empty prompt starts a fresh document: the context is EOS, as after a document's end."""
    if max_new_tokens < 0:
        raise TrainError(f"--max-new-tokens must be >= 0, got {max_new_tokens}")
    if temperature < 0:
        raise TrainError(f"--temperature must be >= 0 (0: always the likeliest token), got {temperature}")
    if top_k is not None and top_k < 1:
        raise TrainError(f"--top-k must be >= 1, got {top_k}")
    model, state = load_model(checkpoint, device)
    tok = state["tokenizer"]
    tokenizer = Tokenizer.from_str(tok["json"])
    tokenizer.encode_special_tokens = True  # as in training: prompt text never becomes EOS
    ids = tokenizer.encode(prompt, add_special_tokens=False).ids if prompt else []
    context = torch.tensor([ids or [tok["eos_id"]]], dtype=torch.long, device=device)
    generator = torch.Generator(device=device).manual_seed(seed)
    out = model.generate(
        context, max_new_tokens, temperature=temperature, top_k=top_k, generator=generator, stop_token=tok["eos_id"]
    )
    new = [i for i in out[0, context.shape[1] :].tolist() if i != tok["eos_id"]]
    # Decoded together: a character's bytes may straddle the prompt's last token and the first new one.
    return tokenizer.decode(ids + new, skip_special_tokens=False)
