"""corpusforge export-hf: the LlamaForCausalLM folder loads in transformers and gives our logits."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch
from tokenizer_data import speeches, write_parquet

from corpusforge.cli import main
from corpusforge.errors import TrainError
from corpusforge.model import Decoder, ModelConfig
from corpusforge.model.export_hf import export_hf
from corpusforge.model.model import apply_rope, rope_tables
from corpusforge.train.checkpoint import save_checkpoint

transformers = pytest.importorskip("transformers")
pytest.importorskip("safetensors")


pytestmark = pytest.mark.usefixtures("torch_one_thread")


@pytest.fixture(scope="module")
def tokenizer(tmp_path_factory) -> dict:
    """A small BPE trained on real text, in the form checkpoints embed it."""
    from corpusforge.tokenizer.artifact import load_tokenizer
    from corpusforge.tokenizer.train import train_tokenizer

    texts = list(speeches("inaugural"))
    work = tmp_path_factory.mktemp("tok")
    write_parquet(work / "part-0.parquet", texts)
    train_tokenizer("bpe-50k", [str(work)], work / "tok", vocab_size=300, quiet=True)
    loaded = load_tokenizer(work / "tok")
    return {
        "name": loaded.name,
        "sha256": loaded.sha256,
        "eos": loaded.eos,
        "eos_id": loaded.eos_id,
        "vocab_size": loaded.vocab_size,
        "json": loaded.path.read_text(),
    }


def checkpoint(tmp_path: Path, tokenizer: dict, **options) -> tuple[Path, Decoder]:
    """A checkpoint of a model with weights far from init (norm gains too), so any mismatch shows."""
    config = ModelConfig(
        **(
            {
                "vocab_size": 320,
                "n_layer": 2,
                "n_head": 4,
                "d_model": 64,
                "max_seq_len": 48,
                "mlp_multiple": 32,
                "rope_theta": 500.0,
            }
            | options
        )
    )
    torch.manual_seed(0)
    model = Decoder(config)
    with torch.no_grad():
        for p in model.parameters():
            p.add_(torch.randn_like(p) * 0.2)
    path = tmp_path / "ckpt.pt"
    save_checkpoint(path, step=0, model=model.state_dict(), model_config=config.to_dict(), tokenizer=tokenizer)
    return path, model.eval()


@pytest.mark.parametrize("tied", [True, False])
def test_exported_llama_gives_our_logits(tmp_path: Path, tokenizer: dict, tied: bool) -> None:
    ckpt, model = checkpoint(tmp_path, tokenizer, tie_embeddings=tied)
    out = export_hf(ckpt, tmp_path / "hf")
    config = json.loads((out / "config.json").read_text())
    assert config["architectures"] == ["LlamaForCausalLM"] and config["intermediate_size"] == model.config.hidden_dim
    hf = transformers.AutoModelForCausalLM.from_pretrained(out, dtype=torch.float32).eval()
    assert type(hf).__name__ == "LlamaForCausalLM"
    assert sum(p.numel() for p in hf.parameters()) == model.num_params()
    ids = torch.randint(0, 320, (2, 48), generator=torch.Generator().manual_seed(3))
    with torch.no_grad():
        ours, theirs = model(ids)[0], hf(ids).logits
    assert ours.abs().max() > 1.0  # logits far from uniform: the comparison means something
    assert (ours - theirs).abs().max() < 1e-4
    # readable by others like every file beside it (safetensors makes its own file 0600)
    assert (out / "model.safetensors").stat().st_mode == (out / "config.json").stat().st_mode
    # generate(max_new_tokens=...) without transformers' "both max_new_tokens and max_length" warning
    assert "max_length" not in json.loads((out / "generation_config.json").read_text())


def test_exported_tokenizer_is_ours(tmp_path: Path, tokenizer: dict) -> None:
    from tokenizers import Tokenizer

    out = export_hf(checkpoint(tmp_path, tokenizer)[0], tmp_path / "hf")
    hf_tok = transformers.AutoTokenizer.from_pretrained(out)
    ours = Tokenizer.from_str(tokenizer["json"])
    ours.encode_special_tokens = True  # as training encoded documents
    text = "Fellow-Citizens of the Senate and of the House of Representatives: <|endoftext|> 1789"
    ids = hf_tok(text, add_special_tokens=False).input_ids
    assert ids == ours.encode(text, add_special_tokens=False).ids  # a literal EOS in text stays text
    assert tokenizer["eos_id"] not in ids
    assert hf_tok.eos_token == tokenizer["eos"] and hf_tok.eos_token_id == tokenizer["eos_id"]
    assert hf_tok.decode(ids) == text


@pytest.mark.parametrize(
    "options, message",
    [
        ({"parallel_block": True}, "parallel_block is true"),
        ({"rotary_pct": 0.5}, "rotary_pct is 0.5"),
        ({"bias": True}, "bias is true"),
    ],
)
def test_non_llama_options_are_refused(tmp_path: Path, tokenizer: dict, options: dict, message: str) -> None:
    ckpt, _ = checkpoint(tmp_path, tokenizer, **options)
    with pytest.raises(TrainError, match=f"no LlamaForCausalLM equivalent: {message}"):
        export_hf(ckpt, tmp_path / "hf")
    assert not (tmp_path / "hf").exists()


def test_cli_export_in_bfloat16(tmp_path: Path, tokenizer: dict, capsys) -> None:
    ckpt, _ = checkpoint(tmp_path, tokenizer)
    assert main(["export-hf", str(ckpt), str(tmp_path / "hf"), "--dtype", "bfloat16"]) == 0
    assert "from_pretrained" in capsys.readouterr().out
    hf = transformers.AutoModelForCausalLM.from_pretrained(tmp_path / "hf")
    assert next(hf.parameters()).dtype == torch.bfloat16
    assert main(["export-hf", str(tmp_path / "missing"), str(tmp_path / "x")]) == 2


def test_rope_matches_hugging_face_llama() -> None:
    from transformers import LlamaConfig
    from transformers.models.llama.modeling_llama import LlamaRotaryEmbedding, apply_rotary_pos_emb

    config = ModelConfig(vocab_size=10, n_head=4, d_model=32, max_seq_len=24, rope_theta=500.0)
    cos, sin = rope_tables(config)
    hf = LlamaRotaryEmbedding(
        LlamaConfig(hidden_size=32, num_attention_heads=4, rope_theta=500.0, max_position_embeddings=24)
    )
    q, k = torch.randn(2, 4, 24, 8), torch.randn(2, 4, 24, 8)
    hf_cos, hf_sin = hf(q, torch.arange(24)[None])
    hq, hk = apply_rotary_pos_emb(q, k, hf_cos, hf_sin)
    assert torch.allclose(apply_rope(q, cos, sin), hq, atol=1e-6)
    assert torch.allclose(apply_rope(k, cos, sin), hk, atol=1e-6)
