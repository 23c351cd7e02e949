"""`corpusforge export-hf CHECKPOINT OUT`: a Hugging Face `LlamaForCausalLM` folder (the files:
`EXPORT_FILES`), so `AutoModelForCausalLM.from_pretrained(OUT)` and the evaluation tools built
on it (lm-eval, vLLM...) work unchanged.

Only LLaMA-shaped models export: sequential blocks, RoPE on every head dimension, no biases;
anything else has no LLaMA equivalent and is refused. Our RoPE already uses LLaMA's "rotate
half" layout, so q/k weights are copied without permutation; the fused qkv matrix is split
into q_proj, k_proj and v_proj.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import torch

from corpusforge.errors import TrainError
from corpusforge.io.atomic import atomic_path, write_json_atomic, write_text_atomic
from corpusforge.io.run_folder import RunFolder
from corpusforge.model.config import ModelConfig
from corpusforge.tokenizer.artifact import SPECIAL_TOKENS_FILE, text_only_json, write_hf_files
from corpusforge.train.checkpoint import load_checkpoint

DTYPES = {"float32": torch.float32, "bfloat16": torch.bfloat16, "float16": torch.float16}


def check_llama_shaped(config: ModelConfig) -> None:
    problems = []
    if config.parallel_block:
        problems.append("parallel_block is true (LLaMA blocks are sequential)")
    if config.rotary_pct != 1.0:
        problems.append(f"rotary_pct is {config.rotary_pct} (LLaMA rotates every head dimension)")
    if config.bias:
        problems.append("bias is true (LLaMA's linear layers have no biases)")
    if problems:
        raise TrainError("this model has no LlamaForCausalLM equivalent: " + "; ".join(problems))


def llama_config(config: ModelConfig, eos_id: int, dtype: str) -> dict[str, Any]:
    return {
        "architectures": ["LlamaForCausalLM"],
        "model_type": "llama",
        "vocab_size": config.vocab_size,
        "hidden_size": config.d_model,
        "intermediate_size": config.hidden_dim,
        "num_hidden_layers": config.n_layer,
        "num_attention_heads": config.n_head,
        "num_key_value_heads": config.n_head,
        "head_dim": config.head_dim,
        "hidden_act": "silu",
        "max_position_embeddings": config.max_seq_len,
        "rms_norm_eps": config.norm_eps,
        "rope_theta": config.rope_theta,  # transformers < 5
        "rope_parameters": {"rope_type": "default", "rope_theta": config.rope_theta},  # transformers >= 5
        "attention_bias": False,
        "mlp_bias": False,
        "tie_word_embeddings": config.tie_embeddings,
        "bos_token_id": eos_id,  # documents are separated by EOS alone, as GPT-2's
        "eos_token_id": eos_id,
        "torch_dtype": dtype,
        "use_cache": True,
    }


def llama_state_dict(state: dict[str, torch.Tensor], config: ModelConfig) -> dict[str, torch.Tensor]:
    """Our parameter names → transformers' LLaMA names."""
    out = {"model.embed_tokens.weight": state["embed.weight"], "model.norm.weight": state["norm.weight"]}
    for i in range(config.n_layer):
        ours, theirs = f"blocks.{i}.", f"model.layers.{i}."
        q, k, v = state[ours + "attn.qkv.weight"].split(config.d_model, dim=0)
        out |= {
            theirs + "input_layernorm.weight": state[ours + "attn_norm.weight"],
            theirs + "self_attn.q_proj.weight": q,
            theirs + "self_attn.k_proj.weight": k,
            theirs + "self_attn.v_proj.weight": v,
            theirs + "self_attn.o_proj.weight": state[ours + "attn.proj.weight"],
            theirs + "post_attention_layernorm.weight": state[ours + "mlp_norm.weight"],
            theirs + "mlp.gate_proj.weight": state[ours + "mlp.gate.weight"],
            theirs + "mlp.up_proj.weight": state[ours + "mlp.up.weight"],
            theirs + "mlp.down_proj.weight": state[ours + "mlp.down.weight"],
        }
    if not config.tie_embeddings:  # a tied head is the embedding: safetensors stores it once
        out["lm_head.weight"] = state["head.weight"]
    return out


EXPORT_FILES = (
    "model.safetensors",
    "config.json",
    "tokenizer.json",
    "tokenizer_config.json",
    SPECIAL_TOKENS_FILE,
    "generation_config.json",
)


def export_hf(checkpoint: str | Path, output: str | Path, dtype: str = "float32", overwrite: bool = False) -> Path:
    """Write the LLaMA folder; returns its path. A folder already holding an export is
    replaced only with `overwrite`; a folder corpusforge did not make, never."""
    if dtype not in DTYPES:
        raise TrainError(f"--dtype must be one of {', '.join(DTYPES)}, got {dtype!r}")
    state = load_checkpoint(checkpoint, mmap=True)
    config = ModelConfig.from_dict(state["model_config"])
    from safetensors.torch import save_file

    check_llama_shaped(config)
    tensors = {
        name: t.to(DTYPES[dtype]).contiguous().clone() for name, t in llama_state_dict(state["model"], config).items()
    }
    out, tok = Path(output), state["tokenizer"]
    with RunFolder(out, "hf-export", EXPORT_FILES, inputs=[str(checkpoint)]) as folder:
        folder.start(overwrite, "an export")
        with atomic_path(out / "model.safetensors") as tmp:
            save_file(tensors, str(tmp), metadata={"format": "pt"})
            umask = os.umask(0)
            os.umask(umask)
            tmp.chmod(0o666 & ~umask)  # safetensors creates its file 0600; the export is for others to read
        write_json_atomic(out / "config.json", llama_config(config, tok["eos_id"], dtype))
        # as train-tokenizer saves it (a checkpoint of an older tokenizer may still list EOS as an
        # added token): a literal EOS in text is text by every route
        write_text_atomic(out / "tokenizer.json", text_only_json(tok["json"]))
        write_hf_files(out, tok["eos"])
        write_json_atomic(
            out / "generation_config.json",
            # no max_length: transformers warns on every generate() that passes max_new_tokens
            {"bos_token_id": tok["eos_id"], "eos_token_id": tok["eos_id"]},
        )
    return out
