"""Training the decoder on token shards: one concept per module; the CLI imports them lazily so
`corpusforge run` never imports torch.

- `config`      the YAML training config → a validated `TrainConfig`
- `data`        packed training/validation windows, each batch a function of (seed, step)
- `optim`       AdamW with decay on matrices only; warmup + cosine to 10% of the peak LR
- `mfu`         FLOPs per token and the table of GPU peaks
- `log`         log.csv and loss.png in the run folder
- `checkpoint`  ckpt.pt: atomic, self-contained (model, optimizer, RNG, configs, tokenizer)
- `distributed` DDP under torchrun (NCCL on CUDA, gloo on CPU)
- `trainer`     `corpusforge train`: the loop
- `generate`    `corpusforge generate`: sampling text from a checkpoint
- `plan`        `corpusforge plan`: a Chinchilla-sized model and config for N tokens
"""
