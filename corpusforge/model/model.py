"""The decoder: a LLaMA-style transformer you can read top to bottom.

    tokens → embedding → N × Block → RMSNorm → head → logits

    Block (pre-norm):     x = x + Attention(RMSNorm(x));  x = x + MLP(RMSNorm(x))
    Block (parallel, GPT-J): h = RMSNorm(x);  x = x + Attention(h) + MLP(h)

RoPE layout: dimension i of a head is paired with dimension i + rot_dim/2 ("rotate half",
GPT-NeoX and Hugging Face LLaMA), not with its neighbour i + 1 (GPT-J, Meta's original LLaMA
code). Both are the same rotation up to a fixed permutation of the q/k weights; this one means
a checkpoint exports to `LlamaForCausalLM` without permuting anything. With rotary_pct < 1
only the first rot_dim dimensions of each head are rotated and the rest carry no position.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import nn

from corpusforge.model.config import ModelConfig


class RMSNorm(nn.Module):
    """x / rms(x) · weight, computed in fp32 whatever the autocast dtype (as LLaMA)."""

    def __init__(self, dim: int, eps: float) -> None:
        super().__init__()
        self.eps = eps
        self.weight = nn.Parameter(torch.ones(dim))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x32 = x.float()
        x32 = x32 * torch.rsqrt(x32.pow(2).mean(-1, keepdim=True) + self.eps)
        return self.weight * x32.to(x.dtype)


def rope_tables(config: ModelConfig, device: torch.device | None = None) -> tuple[torch.Tensor, torch.Tensor]:
    """cos and sin, shape (max_seq_len, rotary_dim): position t turns pair j by t · θ^(-2j/rot_dim)."""
    dim = config.rotary_dim
    inv_freq = 1.0 / (config.rope_theta ** (torch.arange(0, dim, 2, dtype=torch.float32, device=device) / dim))
    angles = torch.outer(torch.arange(config.max_seq_len, dtype=torch.float32, device=device), inv_freq)
    angles = torch.cat([angles, angles], dim=-1)  # dimension i and i + dim/2 share an angle
    return angles.cos(), angles.sin()


def apply_rope(x: torch.Tensor, cos: torch.Tensor, sin: torch.Tensor) -> torch.Tensor:
    """Rotate the first cos.shape[-1] dimensions of x (B, H, T, head_dim); pass the rest through."""
    dim = cos.shape[-1]
    rot = x[..., :dim]
    half1, half2 = rot[..., : dim // 2], rot[..., dim // 2 :]
    rotated = (rot * cos + torch.cat([-half2, half1], dim=-1) * sin).to(x.dtype)  # fp32 tables: fp32 math
    return rotated if dim == x.shape[-1] else torch.cat([rotated, x[..., dim:]], dim=-1)


class Attention(nn.Module):
    def __init__(self, config: ModelConfig) -> None:
        super().__init__()
        self.n_head = config.n_head
        self.qkv = nn.Linear(config.d_model, 3 * config.d_model, bias=config.bias)  # one matmul for q, k, v
        self.proj = nn.Linear(config.d_model, config.d_model, bias=config.bias)

    def forward(self, x: torch.Tensor, cos: torch.Tensor, sin: torch.Tensor) -> torch.Tensor:
        B, T, C = x.shape
        q, k, v = self.qkv(x).split(C, dim=2)
        q, k, v = (t.view(B, T, self.n_head, C // self.n_head).transpose(1, 2) for t in (q, k, v))  # (B, H, T, hd)
        q, k = apply_rope(q, cos, sin), apply_rope(k, cos, sin)
        y = F.scaled_dot_product_attention(q, k, v, is_causal=True)  # flash kernels where the device has them
        return self.proj(y.transpose(1, 2).contiguous().view(B, T, C))


class MLP(nn.Module):
    """SwiGLU (Shazeer 2020): a SiLU-gated linear unit, as LLaMA."""

    def __init__(self, config: ModelConfig) -> None:
        super().__init__()
        self.gate = nn.Linear(config.d_model, config.hidden_dim, bias=config.bias)
        self.up = nn.Linear(config.d_model, config.hidden_dim, bias=config.bias)
        self.down = nn.Linear(config.hidden_dim, config.d_model, bias=config.bias)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.down(F.silu(self.gate(x)) * self.up(x))


class Block(nn.Module):
    def __init__(self, config: ModelConfig) -> None:
        super().__init__()
        self.parallel = config.parallel_block
        self.attn_norm = RMSNorm(config.d_model, config.norm_eps)
        self.attn = Attention(config)
        # A parallel block has one norm feeding both branches: a second would get no gradient
        # (and DDP refuses parameters that get none).
        self.mlp_norm = None if self.parallel else RMSNorm(config.d_model, config.norm_eps)
        self.mlp = MLP(config)

    def forward(self, x: torch.Tensor, cos: torch.Tensor, sin: torch.Tensor) -> torch.Tensor:
        if self.parallel:
            h = self.attn_norm(x)
            return x + self.attn(h, cos, sin) + self.mlp(h)
        x = x + self.attn(self.attn_norm(x), cos, sin)
        return x + self.mlp(self.mlp_norm(x))


class Decoder(nn.Module):
    def __init__(self, config: ModelConfig) -> None:
        super().__init__()
        self.config = config
        self.embed = nn.Embedding(config.vocab_size, config.d_model)
        self.blocks = nn.ModuleList(Block(config) for _ in range(config.n_layer))
        self.norm = RMSNorm(config.d_model, config.norm_eps)
        self.head = nn.Linear(config.d_model, config.vocab_size, bias=False)
        if config.tie_embeddings:
            self.head.weight = self.embed.weight
        # Buffers, not parameters: they follow .to(device) but are rebuilt, never saved.
        cos, sin = rope_tables(config)
        self.register_buffer("rope_cos", cos, persistent=False)
        self.register_buffer("rope_sin", sin, persistent=False)
        self.reset_parameters()

    def reset_parameters(self) -> None:
        """GPT-2's init: N(0, 0.02) everywhere, and the projections that write into the residual
        stream scaled by 1/sqrt(2·n_layer) so its variance does not grow with depth."""
        for module in self.modules():
            if isinstance(module, (nn.Linear, nn.Embedding)):
                nn.init.normal_(module.weight, std=0.02)
            if isinstance(module, nn.Linear) and module.bias is not None:
                nn.init.zeros_(module.bias)
        for block in self.blocks:
            for proj in (block.attn.proj, block.mlp.down):
                nn.init.normal_(proj.weight, std=0.02 / math.sqrt(2 * self.config.n_layer))

    def num_params(self, embedding: bool = True) -> int:
        """Parameters (a tied matrix counted once); embedding=False leaves the token embedding out."""
        n = sum(p.numel() for p in self.parameters())
        return n if embedding else n - self.embed.weight.numel()

    def forward(
        self, idx: torch.Tensor, targets: torch.Tensor | None = None
    ) -> tuple[torch.Tensor, torch.Tensor | None]:
        """idx (B, T) token ids → logits (B, T, vocab); with targets, also the mean cross-entropy."""
        T = idx.shape[1]
        if self.config.max_seq_len < T:
            raise ValueError(f"sequence of {T} tokens is longer than max_seq_len {self.config.max_seq_len}")
        cos, sin = self.rope_cos[:T], self.rope_sin[:T]
        x = self.embed(idx)
        for block in self.blocks:
            x = block(x, cos, sin)
        logits = self.head(self.norm(x))
        loss = None
        if targets is not None:
            # In fp32 even under bf16 autocast: log-softmax over a large vocabulary loses
            # precision in bf16.
            loss = F.cross_entropy(logits.float().view(-1, logits.shape[-1]), targets.view(-1))
        return logits, loss

    @torch.no_grad()
    def generate(
        self,
        idx: torch.Tensor,
        max_new_tokens: int,
        temperature: float = 1.0,
        top_k: int | None = None,
        generator: torch.Generator | None = None,
        stop_token: int | None = None,
    ) -> torch.Tensor:
        """Append up to max_new_tokens sampled tokens to idx (1, T). No KV cache: each step reruns
        the (cropped) context, which is plenty for the small models trained here.
        temperature 0 picks the most likely token; top_k keeps the k likeliest."""
        for _ in range(max_new_tokens):
            context = idx[:, -self.config.max_seq_len :]
            logits = self(context)[0][:, -1, :].float()
            if temperature == 0:
                next_id = logits.argmax(dim=-1, keepdim=True)
            else:
                logits = logits / temperature
                if top_k is not None and top_k < logits.shape[-1]:
                    kth = torch.topk(logits, top_k).values[:, -1:]
                    logits = logits.masked_fill(logits < kth, float("-inf"))
                next_id = torch.multinomial(F.softmax(logits, dim=-1), 1, generator=generator)
            idx = torch.cat([idx, next_id], dim=1)
            if stop_token is not None and int(next_id) == stop_token:
                break
        return idx
