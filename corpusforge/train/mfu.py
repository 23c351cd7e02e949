"""Model FLOPs utilization: the FLOPs the model needs per token, against the accelerator's peak.

FLOPs per token follow PaLM (Chowdhery et al. 2022, appendix B): 6·N for the matmuls of the
forward and backward pass (N: every weight used in a matmul, the output head included, the
embedding lookup not) plus 12·L·d·T for attention over a window of T tokens. Recomputation and
padding are not counted: MFU, not hardware utilization.
"""

from __future__ import annotations

from corpusforge.model.config import ModelConfig

# Dense bf16 tensor-core peaks (FLOP/s, no sparsity) from the vendors' data sheets. The first
# entry whose key is in torch.cuda.get_device_name() wins, so the specific names come first.
PEAK_BF16_FLOPS: list[tuple[str, float]] = [
    ("GH200", 989e12),
    ("H200", 989e12),
    ("H100 PCIe", 756e12),
    ("H100 NVL", 835e12),
    ("H100", 989e12),  # SXM
    ("H800", 989e12),
    ("B200", 2250e12),
    ("A100", 312e12),
    ("A800", 312e12),
    ("L40S", 362e12),
    ("L40", 181e12),
    ("L4", 121e12),
    ("A10", 125e12),
    ("MI300X", 1307e12),
    ("MI250X", 383e12),
]


def flops_per_token(config: ModelConfig, seq_len: int) -> float:
    """Training FLOPs (forward + backward) per token."""
    d, L = config.d_model, config.n_layer
    matmul_params = L * (4 * d * d + 3 * d * config.hidden_dim) + d * config.vocab_size
    return 6 * matmul_params + 12 * L * d * seq_len


def known_peak_flops(device_name: str) -> float | None:
    """The table's peak for a device name (None: unknown; set `peak_flops` in the config)."""
    return next((flops for key, flops in PEAK_BF16_FLOPS if key in device_name), None)
