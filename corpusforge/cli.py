"""The `corpusforge` command: verbs that mirror the flow."""

from __future__ import annotations

import argparse
import logging
import sys

from corpusforge.errors import CorpusforgeError

# Optional dependencies and the extra that installs each (pyproject's optional-dependencies).
EXTRAS = {"torch": "train", "safetensors": "train", "ray": "ray"}


def cmd_run(args: argparse.Namespace) -> int:
    from corpusforge.engine.config import load_config
    from corpusforge.engine.runner import run_pipeline

    config = load_config(
        args.config,
        inputs=args.input,
        output=args.output,
        workers=args.workers,
        executor=args.executor,
        ray_address=args.ray_address,
    )
    run_pipeline(config, overwrite=args.overwrite, quiet=args.quiet, report=not args.no_report)
    return 0


def cmd_configs(args: argparse.Namespace) -> int:
    from corpusforge.shipped import list_shipped

    print(list_shipped())
    return 0


def cmd_copy_config(args: argparse.Namespace) -> int:
    from corpusforge.shipped import copy_shipped

    print(f"wrote {copy_shipped(args.name, args.dest)}: edit it, then run it by its path")
    return 0


def cmd_report(args: argparse.Namespace) -> int:
    from corpusforge.report import write_report

    print(write_report(args.output, tokens=args.tokens or (), runs=args.runs or (), per_reason=args.per_reason))
    return 0


def cmd_phases(args: argparse.Namespace) -> int:
    from corpusforge.engine.config import load_config
    from corpusforge.engine.planner import describe_phases, input_tasks, plan_phases

    config = load_config(args.config, inputs=args.input, output=args.output)
    tasks = len(input_tasks(config))
    split = f", split into {tasks} tasks" if tasks > len(config.inputs) else ""
    print(f"{len(config.inputs)} input file(s){split} → {config.output}  (config hash {config.hash()})")
    print(describe_phases(config, plan_phases(config)))
    return 0


def cmd_train_tokenizer(args: argparse.Namespace) -> int:
    from corpusforge.tokenizer.train import train_tokenizer

    info = train_tokenizer(
        args.recipe,
        args.input,
        args.output,
        vocab_size=args.vocab_size,
        max_bytes=args.max_bytes,
        overwrite=args.overwrite,
        quiet=args.quiet,
        text_key=args.text_key,
    )
    print(
        f"{info['recipe']['name']}: {info['vocab_size']:,} tokens from {info['text_bytes'] / 1e6:,.1f} MB "
        f"({info['documents']:,} documents) in {info['seconds']:,.1f} s, peak memory {info['peak_rss_mb']:,} MB "
        f"→ {args.output}/tokenizer.json"
    )
    return 0


def cmd_tokenizer_stats(args: argparse.Namespace) -> int:
    from corpusforge.tokenizer.stats import format_stats, tokenizer_stats

    print(format_stats(tokenizer_stats(args.tokenizers, args.input, max_bytes=args.max_bytes, quiet=args.quiet)))
    return 0


def cmd_tokenize(args: argparse.Namespace) -> int:
    from corpusforge.tokenizer.mixture import format_mixture, read_mixture, tokenize_mixture
    from corpusforge.tokenizer.tokenize import format_summary, tokenize

    options = {
        "workers": args.workers,
        "val_fraction": args.val_fraction,
        "seed": args.seed,
        "dtype": args.dtype,
        "text_key": args.text_key,
        "overwrite": args.overwrite,
        "quiet": args.quiet,
        "executor": args.executor,
        "ray_address": args.ray_address,
    }
    if args.mixture:
        tokenize_mixture(args.tokenizer, args.mixture, args.output, **options)
        if not args.quiet:
            mixture = read_mixture(args.output)
            print(format_mixture(mixture, mixture.default_budget))
        return 0
    summary = tokenize(args.tokenizer, args.input, args.output, **options)
    if not args.quiet:
        print(format_summary(summary, args.output))
    return 0


def cmd_export_tokens(args: argparse.Namespace) -> int:
    from corpusforge.tokenizer.export import export_tokens, usage

    print(usage(export_tokens(args.tokens, args.format, args.output, overwrite=args.overwrite), args.output))
    return 0


def cmd_train(args: argparse.Namespace) -> int:
    from corpusforge.train.config import load_train_config
    from corpusforge.train.trainer import train

    s = train(load_train_config(args.config), resume=args.resume, overwrite=args.overwrite, quiet=args.quiet)
    if s["rank"] == 0 and not args.quiet:
        val = f"{s['val_loss']:.4f}" if s["val_loss"] is not None else "not measured (eval_interval 0)"
        print(
            f"done: {s['step']:,} steps, {s['tokens']:,} tokens; validation loss {val} nats/token "
            f"(unigram entropy of the training tokens: {s['unigram_entropy']:.4f}, the loss of a model that "
            f"ignores context) → {s['out_dir']}/ (ckpt.pt, log.csv, loss.png)"
        )
        if len(s["tokens_per_source"]) > 1:
            drawn = s["tokens_per_source"]
            print("drawn per source: " + ", ".join(f"{n} {t:,} ({t / s['tokens']:.1%})" for n, t in drawn.items()))
    return 0


def cmd_generate(args: argparse.Namespace) -> int:
    from corpusforge.train.generate import generate

    print(
        generate(
            args.checkpoint,
            args.prompt,
            max_new_tokens=args.max_new_tokens,
            temperature=args.temperature,
            top_k=args.top_k or None,
            seed=args.seed,
        )
    )
    return 0


def cmd_plan(args: argparse.Namespace) -> int:
    from corpusforge.tokenizer.mixture import is_mixture, read_mixture
    from corpusforge.train.plan import corpus_size, format_plan, parse_count, plan_training

    if args.tokens is None and args.data is None:
        raise CorpusforgeError("give --tokens N or --data DIR (a tokenize output folder, or a tokenized mixture)")
    tokens, vocab = corpus_size(args.data) if args.data else (None, None)
    if args.tokens is not None:
        try:
            tokens = parse_count(args.tokens)
        except ValueError as exc:
            raise CorpusforgeError(str(exc)) from None
    p = plan_training(
        tokens,
        vocab_size=args.vocab_size or vocab or 50257,
        seq_len=args.seq_len,
        devices=args.gpus,
        data=args.data or "output/tokens/CORPUS",
    )
    mixture = read_mixture(args.data) if args.data and is_mixture(args.data) else None
    print(format_plan(p, gpu=args.gpu, devices=args.gpus, mixture=mixture))
    return 0


def cmd_export_hf(args: argparse.Namespace) -> int:
    from corpusforge.model.export_hf import export_hf

    out = export_hf(args.checkpoint, args.output, dtype=args.dtype, overwrite=args.overwrite)
    print(
        f"wrote {out}/ (config.json, model.safetensors, tokenizer): "
        f"AutoModelForCausalLM.from_pretrained({str(out)!r}) loads it"
    )
    return 0


def cmd_ablate(args: argparse.Namespace) -> int:
    from corpusforge.ablate import ablate, format_ablation

    result = ablate(
        args.variants,
        args.tokens,
        args.eval,
        args.output,
        recipe=args.recipe,
        vocab_size=args.vocab_size,
        model=args.model,
        seq_len=args.seq_len,
        batch_size=args.batch_size,
        lr=args.lr,
        seed=args.seed,
        overwrite=args.overwrite,
        quiet=args.quiet,
    )
    print(format_ablation(result))
    return 0


def cmd_train_classifier(args: argparse.Namespace) -> int:
    from corpusforge.classifier.train import Settings, format_card, train_classifier

    settings = Settings(
        dim=args.dim,
        epoch=args.epoch,
        lr=args.lr,
        min_count=args.min_count,
        word_ngrams=args.word_ngrams,
        bucket=args.bucket,
        max_docs=args.max_docs,
        heldout=args.heldout,
        chunk_words=args.chunk_words,
        text_key=args.text_key,
        seed=args.seed,
    )
    card = train_classifier(args.positive, args.negative, args.output, settings, overwrite=args.overwrite)
    print(format_card(card, args.output))
    return 0


def cmd_select(args: argparse.Namespace) -> int:
    from corpusforge.select import select

    select(
        args.source,
        args.output,
        where=args.where,
        top=args.top,
        overwrite=args.overwrite,
        quiet=args.quiet,
        report=not args.no_report,
    )
    return 0


def _token_count(text: str) -> int:
    """`--tokens 2M` / `2.5B` / `2.5e6`, as `corpusforge plan` reads token counts."""
    from corpusforge.train.plan import parse_count

    try:
        return parse_count(text)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None


def _byte_size(text: str) -> int:
    """`--max-bytes 32M`: an integer with an optional K/M/G suffix (powers of 1000)."""
    units = {"k": 10**3, "m": 10**6, "g": 10**9}
    t = text.strip().lower().removesuffix("b")
    try:
        return int(float(t[:-1]) * units[t[-1]]) if t and t[-1] in units else int(t)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a size: {text!r} (e.g. 32000000 or 32M)") from None


def _executor_args(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--executor",
        choices=["local", "ray"],
        help="local: a process pool (default); ray: Ray tasks, on a local Ray instance of --workers "
        "CPUs, or on the cluster at --ray-address (same output bytes)",
    )
    parser.add_argument(
        "--ray-address",
        metavar="ADDR",
        help="join this Ray cluster: auto (the one this node belongs to), HOST:6379 or "
        "ray://HOST:10001; implies --executor ray",
    )


def build_parser() -> argparse.ArgumentParser:
    from corpusforge import __version__

    parser = argparse.ArgumentParser(prog="corpusforge", description=__doc__)
    parser.add_argument("--version", action="version", version=f"corpusforge {__version__}")
    sub = parser.add_subparsers(dest="verb", required=True, metavar="VERB")

    run = sub.add_parser(
        "run",
        help="run (or resume) a pipeline config",
        description="Run a pipeline config; rerunning the same command resumes a killed run.",
    )
    run.add_argument(
        "config", help="a shipped config's name (massivetext, c4: see `corpusforge configs`) or a YAML path"
    )
    run.add_argument("--input", nargs="+", metavar="GLOB", help="input files (overrides the config's input)")
    run.add_argument("--output", metavar="DIR", help="output folder (overrides the config's output)")
    run.add_argument(
        "--workers", type=int, metavar="N", help="worker processes (default: the config's, else all cores)"
    )
    _executor_args(run)
    run.add_argument("--overwrite", action="store_true", help="replace an output folder made with another config")
    run.add_argument("--quiet", action="store_true", help="no progress bars or summary table")
    run.add_argument("--no-report", action="store_true", help="do not write OUTPUT/report.html at the end")
    run.set_defaults(func=cmd_run)

    configs = sub.add_parser(
        "configs",
        help="list the shipped pipeline configs, training configs and tokenizer recipes",
        description="List what ships with corpusforge; each runs by name from any folder.",
    )
    configs.set_defaults(func=cmd_configs)

    copy = sub.add_parser(
        "copy-config",
        help="copy a shipped config or recipe out for editing",
        description="Copy a shipped pipeline config, training config or tokenizer recipe to DEST.",
    )
    copy.add_argument("name", help="a name from `corpusforge configs` (massivetext, bpe-50k, ...)")
    copy.add_argument("dest", nargs="?", help="file or folder to write (default ./NAME.yaml); never overwritten")
    copy.set_defaults(func=cmd_copy_config)

    phases = sub.add_parser(
        "phases",
        help="show how a pipeline config is cut into phases",
        description="Validate a pipeline config and print its phases without running it.",
    )
    phases.add_argument("config")
    phases.add_argument("--input", nargs="+", metavar="GLOB")
    phases.add_argument("--output", metavar="DIR")
    phases.set_defaults(func=cmd_phases)

    train_tok = sub.add_parser(
        "train-tokenizer",
        help="train a tokenizer from a recipe on Parquet shards",
        description="Train a byte-level BPE tokenizer as a recipe in tokenizers/ says "
        "(bpe-50k: GPT-2 style; multiword-256k: pieces spanning words), "
        "streaming text from Parquet shards or JSON Lines files. Writes DIR/tokenizer.json.",
    )
    train_tok.add_argument("recipe", help="a recipe name (bpe-50k, multiword-256k) or a YAML path")
    train_tok.add_argument(
        "--input", nargs="+", required=True, metavar="GLOB", help="Parquet shards or JSON Lines files (.jsonl[.gz])"
    )
    train_tok.add_argument("--output", required=True, metavar="DIR", help="folder for tokenizer.json and metadata")
    train_tok.add_argument(
        "--text-key", default="text", metavar="KEY", help="the text column or JSON field (default text)"
    )
    train_tok.add_argument("--vocab-size", type=int, metavar="N", help="override the recipe's vocabulary size")
    train_tok.add_argument(
        "--max-bytes", type=_byte_size, metavar="N", help="train on the first N bytes of text only (e.g. 32M)"
    )
    train_tok.add_argument("--overwrite", action="store_true", help="replace a tokenizer already in DIR")
    train_tok.add_argument("--quiet", action="store_true", help="no progress bar")
    train_tok.set_defaults(func=cmd_train_tokenizer)

    tok_stats = sub.add_parser(
        "tokenizer-stats",
        help="compare tokenizers on held-out shards",
        description="Bytes per token, tokens per word, vocabulary used, share of tokens "
        "spanning a space and the round-trip check, side by side.",
    )
    tok_stats.add_argument(
        "tokenizers", nargs="+", metavar="TOKENIZER", help="tokenizer folders (or tokenizer.json files)"
    )
    tok_stats.add_argument(
        "--input", nargs="+", required=True, metavar="GLOB", help="held-out Parquet or JSON Lines files"
    )
    tok_stats.add_argument("--max-bytes", type=_byte_size, metavar="N", help="read only the first N bytes of text")
    tok_stats.add_argument("--quiet", action="store_true", help="no progress bar")
    tok_stats.set_defaults(func=cmd_tokenizer_stats)

    tokenize = sub.add_parser(
        "tokenize",
        help="turn Parquet shards or JSON Lines files into token shards (.bin/.idx) for training",
        description="Encode every document, append EOS, shuffle documents and split off a "
        "validation set; one task per shard, resumable, deterministic.",
    )
    tokenize.add_argument("--tokenizer", required=True, metavar="DIR", help="a folder made by train-tokenizer")
    what = tokenize.add_mutually_exclusive_group(required=True)
    what.add_argument(
        "--input", nargs="+", metavar="GLOB", help="Parquet shards or JSON Lines files (.jsonl, .jsonl.gz...)"
    )
    what.add_argument(
        "--mixture",
        metavar="MIX.yaml",
        help="a mixture file (sources: [{name, input, weight | epochs, text_key}]): each source into OUTPUT/<name>/, "
        "and OUTPUT/mixture.json with the resolved shares (README, 'Training data')",
    )
    tokenize.add_argument("--output", required=True, metavar="DIR", help="folder for train/ and val/ token shards")
    tokenize.add_argument("--workers", type=int, metavar="N", help="worker processes (default: all cores)")
    _executor_args(tokenize)
    tokenize.add_argument(
        "--val-fraction", type=float, default=0.0, metavar="F", help="share of documents held out in val/ (default 0)"
    )
    tokenize.add_argument("--seed", type=int, default=0, metavar="S", help="seed of the shuffle and split (default 0)")
    tokenize.add_argument(
        "--dtype",
        default="auto",
        choices=["auto", "uint16", "uint32"],
        help="token dtype (auto: uint16 when the vocabulary fits in 65,536)",
    )
    tokenize.add_argument(
        "--text-key", default="text", metavar="KEY", help="the text column or JSON field (default text)"
    )
    tokenize.add_argument("--overwrite", action="store_true", help="replace token shards made with other settings")
    tokenize.add_argument("--quiet", action="store_true", help="no progress bar or summary")
    tokenize.set_defaults(func=cmd_tokenize)

    export_tok = sub.add_parser(
        "export-tokens",
        help="write token shards as Megatron-LM's indexed dataset or nanoGPT's train.bin/val.bin",
        description="Convert a `corpusforge tokenize` folder, token for token: megatron writes "
        "DIR/train.bin + DIR/train.idx (and val.*), one sequence per document with its EOS; nanogpt "
        "writes DIR/train.bin, DIR/val.bin (uint16, EOS after every document) and meta.pkl.",
    )
    export_tok.add_argument(
        "tokens",
        metavar="TOKENS",
        help="a tokenize output folder (holding tokenize.json), or a tokenized mixture (megatron: one dataset "
        "per source and the --data-path blend of their shares)",
    )
    export_tok.add_argument("--format", required=True, choices=["megatron", "nanogpt"])
    export_tok.add_argument("--output", required=True, metavar="DIR", help="folder to write (new or empty)")
    export_tok.add_argument("--overwrite", action="store_true", help="replace an export already in DIR")
    export_tok.set_defaults(func=cmd_export_tokens)

    report = sub.add_parser(
        "report",
        help="write OUTPUT/report.html: funnel, languages, lengths, dedup, contamination",
        description="One self-contained HTML page about a pipeline run (plots embedded, no "
        "script, crawled text escaped); with --tokens and --runs also bytes per "
        "token per tokenizer and loss curves. `corpusforge run` writes it too.",
    )
    report.add_argument("output", metavar="OUTPUT", help="a pipeline output folder")
    report.add_argument("--tokens", nargs="+", metavar="DIR", help="token shard folders (corpusforge tokenize outputs)")
    report.add_argument("--runs", nargs="+", metavar="DIR", help="training run folders holding a log.csv")
    report.add_argument(
        "--per-reason", type=int, default=3, metavar="N", help="rejected documents shown per drop reason (default 3)"
    )
    report.set_defaults(func=cmd_report)

    train = sub.add_parser(
        "train",
        help="train the decoder on token shards (a YAML config; torchrun for DDP)",
        description="Train the decoder model on the token shards of `corpusforge tokenize`, as "
        "a config in pipelines/training/ says; writes ckpt.pt, log.csv, loss.png and "
        "config.yaml to its out_dir. Multi-GPU: torchrun --nproc_per_node N "
        "-m corpusforge train CONFIG.",
    )
    train.add_argument("config", help="a shipped training config's name (tiny-sample) or a YAML path")
    train.add_argument(
        "--resume",
        action="store_true",
        help="continue from out_dir's checkpoint (the loss curve continues as if never stopped)",
    )
    train.add_argument("--overwrite", action="store_true", help="start over, replacing a run already in out_dir")
    train.add_argument("--quiet", action="store_true", help="no progress lines")
    train.set_defaults(func=cmd_train)

    gen = sub.add_parser(
        "generate",
        help="sample text from a trained checkpoint",
        description="Continue a prompt with a trained model (stops at EOS).",
    )
    gen.add_argument("checkpoint", help="a run folder (out_dir) or its ckpt.pt")
    gen.add_argument("--prompt", default="", help="text to continue (default: empty, a new document)")
    gen.add_argument("--max-new-tokens", type=int, default=100, metavar="N", help="default 100")
    gen.add_argument("--temperature", type=float, default=0.8, metavar="T", help="default 0.8; 0: greedy")
    gen.add_argument(
        "--top-k", type=int, default=50, metavar="K", help="sample among the K likeliest (default 50; 0: all)"
    )
    gen.add_argument("--seed", type=int, default=0, metavar="S", help="sampling seed (default 0)")
    gen.set_defaults(func=cmd_generate)

    plan_ = sub.add_parser(
        "plan",
        help="size a model for a corpus (Chinchilla) and print its training config",
        description="Chinchilla's rule (~20 tokens per parameter, C ≈ 6·N·D) → a preset or "
        "shape, the compute, a time estimate and a config for `corpusforge train`.",
    )
    plan_.add_argument("--tokens", metavar="N", help="training tokens: 2.5B, 300M, 2.5e9 (default: --data's)")
    plan_.add_argument(
        "--data",
        metavar="DIR",
        help="a tokenize output folder (its tokens and vocabulary) or a tokenized mixture (the budget at "
        "which its epochs hold, and a table of tokens and epochs per source)",
    )
    plan_.add_argument("--vocab-size", type=int, metavar="V", help="vocabulary size (default 50257, or --data's)")
    plan_.add_argument("--seq-len", type=int, default=2048, metavar="T", help="training window (default 2048)")
    plan_.add_argument("--gpu", default="H100", help="GPU for the time estimate (default H100)")
    plan_.add_argument("--gpus", type=int, default=1, metavar="N", help="how many (default 1)")
    plan_.set_defaults(func=cmd_plan)

    export = sub.add_parser(
        "export-hf",
        help="export a checkpoint as a Hugging Face LlamaForCausalLM folder",
        description="Write config.json, model.safetensors and the tokenizer, loadable with "
        "transformers' AutoModelForCausalLM (LLaMA-shaped models only).",
    )
    export.add_argument("checkpoint", help="a run folder (out_dir) or its ckpt.pt")
    export.add_argument("output", metavar="OUT", help="folder to write")
    export.add_argument(
        "--dtype",
        default="float32",
        choices=["float32", "bfloat16", "float16"],
        help="weight dtype (default float32: the logits match the checkpoint's)",
    )
    export.add_argument("--overwrite", action="store_true", help="replace an export already in OUT")
    export.set_defaults(func=cmd_export_hf)

    abl = sub.add_parser(
        "ablate",
        help="train the same small model on each corpus variant, compare held-out loss",
        description="For each variant (a pipeline output folder, or a pipeline config run first): "
        "one shared tokenizer, the same model, seed and token budget, and the loss on "
        "the same held-out text. Writes OUTPUT/ablation.json and an Ablation section "
        "in each variant's report.html.",
    )
    abl.add_argument("variants", nargs="+", metavar="VARIANT", help="pipeline output folders or pipeline configs")
    abl.add_argument(
        "--tokens", required=True, type=_token_count, metavar="N", help="training tokens per variant (e.g. 2M)"
    )
    abl.add_argument(
        "--eval",
        required=True,
        nargs="+",
        metavar="HELDOUT",
        help="held-out text no variant saw: Parquet shards, an output folder, .txt files or a .zip of them",
    )
    abl.add_argument(
        "--output",
        default="output/ablation",
        metavar="DIR",
        help="tokenizer, token shards and runs (default output/ablation)",
    )
    abl.add_argument("--recipe", default="bpe-50k", help="tokenizer recipe (default bpe-50k)")
    abl.add_argument(
        "--vocab-size",
        type=int,
        default=8192,
        metavar="N",
        help="shared vocabulary (default 8192; smaller if the text supports fewer)",
    )
    abl.add_argument("--model", default="tiny", help="model preset (default tiny)")
    abl.add_argument("--seq-len", type=int, default=128, metavar="N")
    abl.add_argument("--batch-size", type=int, default=16, metavar="N")
    abl.add_argument("--lr", type=float, default=3e-3)
    abl.add_argument("--seed", type=int, default=0)
    abl.add_argument(
        "--overwrite",
        action="store_true",
        help="start over in an --output that holds an ablation of other corpora or settings",
    )
    abl.add_argument("--quiet", action="store_true", help="no progress output")
    abl.set_defaults(func=cmd_ablate)

    clf = sub.add_parser(
        "train-classifier",
        help="train a fastText quality classifier: reference text (--positive) vs crawl (--negative)",
        description="A supervised fastText model with DCLM's settings: word bigrams, otherwise fastText's "
        "defaults (the Pile's used unigrams: --word-ngrams 1). Inputs: Parquet shards or pipeline output folders, JSON Lines "
        "(.gz/.zst...), text files (one document each) or .zip archives of them. Trained on one thread: "
        "the same inputs and --seed give the same model bytes. Writes DIR/model.bin and DIR/card.json.",
    )
    clf.add_argument("--positive", required=True, nargs="+", metavar="GLOB", help="reference text")
    clf.add_argument("--negative", required=True, nargs="+", metavar="GLOB", help="crawl text")
    clf.add_argument("--output", required=True, metavar="DIR", help="where model.bin and card.json go")
    clf.add_argument("--text-key", default="text", help="the text column or JSON field (default text)")
    clf.add_argument("--max-docs", type=int, metavar="N", help="documents per side at most (default: all)")
    clf.add_argument(
        "--chunk-words",
        type=int,
        default=0,
        metavar="N",
        help="cut documents at line ends into pieces of >= N words (default 0: whole documents)",
    )
    clf.add_argument("--heldout", type=float, default=0.1, help="held-out share of each side (default 0.1)")
    clf.add_argument("--dim", type=int, default=100, help="embedding size (fastText default 100)")
    clf.add_argument("--epoch", type=int, default=5, help="epochs (fastText default 5)")
    clf.add_argument("--lr", type=float, default=0.1, help="learning rate (fastText default 0.1)")
    clf.add_argument("--min-count", type=int, default=1, help="rarest word kept (fastText default 1)")
    clf.add_argument(
        "--word-ngrams", type=int, default=2, help="word n-grams (default 2, DCLM's; the Pile's scripts used 1)"
    )
    clf.add_argument(
        "--bucket", type=int, default=200_000, help="hashed n-gram table size (default 200000; fastText 2000000)"
    )
    clf.add_argument("--seed", type=int, default=0)
    clf.add_argument("--overwrite", action="store_true", help="replace a classifier already in DIR")
    clf.set_defaults(func=cmd_train_classifier)

    sel = sub.add_parser(
        "select",
        help="a new corpus from an annotated output folder: rows --where selects, the --top fraction",
        description="Reads OUTPUT/data/*.parquet and writes a normal output folder with the rows an SQL-style "
        '--where expression selects (e.g. "gopher_quality_reason IS NULL AND quality_score >= 0.3"), then '
        "with --top COLUMN:FRACTION exactly ceil(FRACTION x n) of them with the highest COLUMN. Operators: "
        "= != <> < <= > >= IS [NOT] NULL [NOT] IN (...) AND OR NOT and parentheses.",
    )
    sel.add_argument("source", metavar="OUTPUT", help="an annotated pipeline output folder")
    sel.add_argument("--where", metavar="EXPR", help="which rows to keep")
    sel.add_argument("--top", metavar="COLUMN:FRACTION", help="then keep this share with the highest COLUMN")
    sel.add_argument("--output", required=True, metavar="NEW", help="the new output folder")
    sel.add_argument("--overwrite", action="store_true", help="replace a selection made otherwise in NEW")
    sel.add_argument("--no-report", action="store_true", help="do not write NEW/report.html")
    sel.add_argument("--quiet", action="store_true")
    sel.set_defaults(func=cmd_select)
    return parser


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s: %(message)s")
    try:
        return args.func(args)
    except CorpusforgeError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    except ModuleNotFoundError as exc:
        missing = (exc.name or "").partition(".")[0]
        if missing not in EXTRAS:
            raise
        print(
            f"error: corpusforge {args.verb} needs {missing}, which is not installed: "
            f"pip install 'corpusforge[{EXTRAS[missing]}]'",
            file=sys.stderr,
        )
        return 2
    except KeyboardInterrupt:
        print("interrupted: finished tasks are saved; run the same command again to resume", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
