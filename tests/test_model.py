"""The decoder: shapes, causality, the GPT-J options, presets, RoPE against Hugging Face's LLaMA."""

from __future__ import annotations

import pytest
import torch

from corpusforge.model import PRESETS, Decoder, ModelConfig, preset
from corpusforge.model.model import apply_rope, rope_tables
from corpusforge.train.plan import count_params

VOCAB = 97


pytestmark = pytest.mark.usefixtures("torch_one_thread")


def small(**overrides) -> ModelConfig:
    return ModelConfig(
        **(
            {"vocab_size": VOCAB, "n_layer": 2, "n_head": 4, "d_model": 32, "max_seq_len": 24, "mlp_multiple": 16}
            | overrides
        )
    )


def randomized(config: ModelConfig, seed: int = 0) -> Decoder:
    """A model whose weights are far from init (norm gains too), so differences show in logits."""
    torch.manual_seed(seed)
    model = Decoder(config)
    with torch.no_grad():
        for p in model.parameters():
            p.add_(torch.randn_like(p) * 0.3)
    return model.eval()


VARIANTS = {
    "llama": {},
    "parallel": {"parallel_block": True},
    "partial_rotary": {"rotary_pct": 0.25},
    "gptj": {"parallel_block": True, "rotary_pct": 0.5, "tie_embeddings": False, "bias": True},
}


@pytest.mark.parametrize("variant", VARIANTS)
def test_shapes_loss_and_causality(variant: str) -> None:
    model = randomized(small(**VARIANTS[variant]))
    x = torch.randint(0, VOCAB, (3, 20), generator=torch.Generator().manual_seed(1))
    logits, loss = model(x, x)
    assert logits.shape == (3, 20, VOCAB) and loss.shape == () and torch.isfinite(loss)
    # Changing token t must not change any logit before t ...
    t = 12
    x2 = x.clone()
    x2[:, t] = (x2[:, t] + 1) % VOCAB
    with torch.no_grad():
        a, b = model(x)[0], model(x2)[0]
    assert torch.equal(a[:, :t], b[:, :t])
    # ... and must change the logits from t on (the model does look at its context).
    assert (a[:, t:] - b[:, t:]).abs().max() > 1e-3


def test_order_matters_through_rope() -> None:
    """Without position embeddings, attention is blind to order but for RoPE: the same context in
    another order must give the last token different logits."""
    model = randomized(small())
    with torch.no_grad():
        a = model(torch.tensor([[1, 2, 3, 4]]))[0][0, -1]
        b = model(torch.tensor([[3, 1, 2, 4]]))[0][0, -1]
    assert (a - b).abs().max() > 1e-3


def test_options_change_the_architecture() -> None:
    base = Decoder(small())
    parallel = Decoder(small(parallel_block=True))
    assert parallel.blocks[0].mlp_norm is None and base.blocks[0].mlp_norm is not None
    assert base.num_params() - parallel.num_params() == 2 * 32  # one RMSNorm less per block
    assert small(rotary_pct=0.25).rotary_dim == 2 and small().rotary_dim == 8
    untied = Decoder(small(tie_embeddings=False))
    assert untied.num_params() == base.num_params() + VOCAB * 32
    assert base.head.weight is base.embed.weight


def test_partial_rotary_leaves_the_other_dimensions_alone() -> None:
    config = small(rotary_pct=0.5)
    cos, sin = rope_tables(config)
    x = torch.randn(1, 1, 24, config.head_dim)
    y = apply_rope(x, cos[:24], sin[:24])
    assert torch.equal(y[..., config.rotary_dim :], x[..., config.rotary_dim :])
    assert torch.equal(y[:, :, 0], x[:, :, 0])  # position 0: rotation by angle 0
    assert not torch.allclose(y[:, :, 5, : config.rotary_dim], x[:, :, 5, : config.rotary_dim])
    # A rotation keeps each pair's length.
    half = config.rotary_dim // 2

    def pair_lengths(t: torch.Tensor) -> torch.Tensor:
        return t[..., :half] ** 2 + t[..., half : config.rotary_dim] ** 2

    assert torch.allclose(pair_lengths(y), pair_lengths(x), atol=1e-5)


def test_hidden_size_is_two_thirds_of_4d_rounded_up() -> None:
    assert ModelConfig(vocab_size=10, d_model=4096, n_head=32, mlp_multiple=256).hidden_dim == 11008  # LLaMA-7B
    assert ModelConfig(vocab_size=10, d_model=768, n_head=12, mlp_multiple=256).hidden_dim == 2048
    assert ModelConfig(vocab_size=10, d_model=128, n_head=4).hidden_dim == 384
    assert ModelConfig(vocab_size=10, d_model=128, n_head=4, mlp_hidden=100).hidden_dim == 100


def test_presets_have_their_advertised_sizes() -> None:
    sizes = {name: count_params(preset(name, 50257)) for name in PRESETS}
    assert 120e6 < sizes["125M"] < 130e6
    assert 340e6 < sizes["350M"] < 370e6
    assert 1.25e9 < sizes["1.3B"] < 1.4e9
    assert sizes["micro"] < sizes["tiny"] < 10e6
    with pytest.raises(KeyError, match="unknown model preset"):
        preset("7B", 100)


@pytest.mark.parametrize("variant", VARIANTS)
def test_count_params_matches_the_model(variant: str) -> None:
    config = small(**VARIANTS[variant])
    assert count_params(config) == Decoder(config).num_params()


def test_invalid_shapes_are_refused() -> None:
    with pytest.raises(ValueError, match="multiple of n_head"):
        small(d_model=30)
    with pytest.raises(ValueError, match="rotary_pct"):
        small(rotary_pct=0.0)
    with pytest.raises(ValueError, match="longer than max_seq_len"):
        Decoder(small())(torch.zeros(1, 25, dtype=torch.long))


def test_generate_is_seeded_greedy_is_argmax_and_stops_at_eos() -> None:
    model = randomized(small())
    prompt = torch.tensor([[1, 2, 3]])
    runs = [
        model.generate(prompt, 30, temperature=1.0, top_k=5, generator=torch.Generator().manual_seed(s))
        for s in (7, 7, 8)
    ]
    assert runs[0].shape == (1, 33) and torch.equal(runs[0][:, :3], prompt)
    assert torch.equal(runs[0], runs[1]) and not torch.equal(runs[0], runs[2])
    greedy = model.generate(prompt, 1, temperature=0)
    assert int(greedy[0, -1]) == int(model(prompt)[0][0, -1].argmax())
    first = int(greedy[0, -1])
    assert model.generate(prompt, 30, temperature=0, stop_token=first).shape == (1, 4)
    # Contexts longer than max_seq_len are cropped, not refused.
    assert model.generate(torch.zeros(1, 24, dtype=torch.long), 3, temperature=0).shape == (1, 27)
