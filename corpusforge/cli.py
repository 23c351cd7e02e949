"""The `corpusforge` command: verbs that mirror the flow."""

from __future__ import annotations

import argparse
import logging
import sys

from corpusforge.errors import CorpusforgeError


def cmd_run(args: argparse.Namespace) -> int:
    from corpusforge.config import load_config
    from corpusforge.runner import run_pipeline

    config = load_config(args.config, inputs=args.input, output=args.output, workers=args.workers)
    run_pipeline(config, overwrite=args.overwrite, quiet=args.quiet)
    return 0


def cmd_plan_pipeline(args: argparse.Namespace) -> int:
    from corpusforge.config import load_config
    from corpusforge.planner import describe_plan, plan

    config = load_config(args.config, inputs=args.input, output=args.output)
    print(f"{len(config.inputs)} input file(s) → {config.output}  (config hash {config.hash()})")
    print(describe_plan(config, plan(config)))
    return 0


def cmd_train_tokenizer(args: argparse.Namespace) -> int:
    from corpusforge.tokenizer.train import train_tokenizer

    info = train_tokenizer(args.recipe, args.input, args.output, vocab_size=args.vocab_size,
                           max_bytes=args.max_bytes, overwrite=args.overwrite, quiet=args.quiet)
    print(f"{info['recipe']['name']}: {info['vocab_size']:,} tokens from {info['text_bytes'] / 1e6:,.1f} MB "
          f"({info['documents']:,} documents) in {info['seconds']:,.1f} s, peak memory {info['peak_rss_mb']:,} MB "
          f"→ {args.output}/tokenizer.json")
    return 0


def cmd_tokenizer_stats(args: argparse.Namespace) -> int:
    from corpusforge.tokenizer.stats import format_stats, tokenizer_stats

    print(format_stats(tokenizer_stats(args.tokenizers, args.input, max_bytes=args.max_bytes, quiet=args.quiet)))
    return 0


def cmd_tokenize(args: argparse.Namespace) -> int:
    from corpusforge.tokenizer.tokenize import format_summary, tokenize

    summary = tokenize(args.tokenizer, args.input, args.output, workers=args.workers,
                       val_fraction=args.val_fraction, seed=args.seed, dtype=args.dtype,
                       text_key=args.text_key, overwrite=args.overwrite, quiet=args.quiet)
    if not args.quiet:
        print(format_summary(summary, args.output))
    return 0


def _byte_size(text: str) -> int:
    """`--max-bytes 32M`: an integer with an optional K/M/G suffix (powers of 1000)."""
    units = {"k": 10**3, "m": 10**6, "g": 10**9}
    t = text.strip().lower().removesuffix("b")
    try:
        return int(float(t[:-1]) * units[t[-1]]) if t and t[-1] in units else int(t)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a size: {text!r} (e.g. 32000000 or 32M)") from None


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="corpusforge", description=__doc__)
    sub = parser.add_subparsers(dest="verb", required=True, metavar="VERB")

    run = sub.add_parser("run", help="run (or resume) a pipeline config",
                         description="Run a pipeline config; rerunning the same command resumes a killed run.")
    run.add_argument("config", help="pipeline YAML, e.g. pipelines/massivetext.yaml")
    run.add_argument("--input", nargs="+", metavar="GLOB", help="input files (overrides the config's input)")
    run.add_argument("--output", metavar="DIR", help="output folder (overrides the config's output)")
    run.add_argument("--workers", type=int, metavar="N", help="worker processes (default: the config's, else all cores)")
    run.add_argument("--overwrite", action="store_true", help="replace an output folder made with another config")
    run.add_argument("--quiet", action="store_true", help="no progress bars or summary table")
    run.set_defaults(func=cmd_run)

    phases = sub.add_parser("phases", help="show how a pipeline config is cut into phases",
                            description="Validate a pipeline config and print its phases without running it.")
    phases.add_argument("config")
    phases.add_argument("--input", nargs="+", metavar="GLOB")
    phases.add_argument("--output", metavar="DIR")
    phases.set_defaults(func=cmd_plan_pipeline)

    train_tok = sub.add_parser("train-tokenizer", help="train a tokenizer from a recipe on Parquet shards",
                               description="Train a byte-level BPE tokenizer as a recipe in tokenizers/ says "
                                           "(bpe-50k: GPT-2 style; multiword-256k: pieces spanning words), "
                                           "streaming text from Parquet shards. Writes DIR/tokenizer.json.")
    train_tok.add_argument("recipe", help="a recipe name (bpe-50k, multiword-256k) or a YAML path")
    train_tok.add_argument("--input", nargs="+", required=True, metavar="GLOB", help="Parquet shards with a text column")
    train_tok.add_argument("--output", required=True, metavar="DIR", help="folder for tokenizer.json and metadata")
    train_tok.add_argument("--vocab-size", type=int, metavar="N", help="override the recipe's vocabulary size")
    train_tok.add_argument("--max-bytes", type=_byte_size, metavar="N",
                           help="train on the first N bytes of text only (e.g. 32M)")
    train_tok.add_argument("--overwrite", action="store_true", help="replace a tokenizer already in DIR")
    train_tok.add_argument("--quiet", action="store_true", help="no progress bar")
    train_tok.set_defaults(func=cmd_train_tokenizer)

    tok_stats = sub.add_parser("tokenizer-stats", help="compare tokenizers on held-out shards",
                               description="Bytes per token, tokens per word, vocabulary used, share of tokens "
                                           "spanning a space and the round-trip check, side by side.")
    tok_stats.add_argument("tokenizers", nargs="+", metavar="TOKENIZER", help="tokenizer folders (or tokenizer.json files)")
    tok_stats.add_argument("--input", nargs="+", required=True, metavar="GLOB", help="held-out Parquet shards")
    tok_stats.add_argument("--max-bytes", type=_byte_size, metavar="N", help="read only the first N bytes of text")
    tok_stats.add_argument("--quiet", action="store_true", help="no progress bar")
    tok_stats.set_defaults(func=cmd_tokenizer_stats)

    tokenize = sub.add_parser("tokenize", help="turn Parquet shards into token shards (.bin/.idx) for training",
                              description="Encode every document, append EOS, shuffle documents and split off a "
                                          "validation set; one task per shard, resumable, deterministic.")
    tokenize.add_argument("--tokenizer", required=True, metavar="DIR", help="a folder made by train-tokenizer")
    tokenize.add_argument("--input", nargs="+", required=True, metavar="GLOB", help="Parquet shards with a text column")
    tokenize.add_argument("--output", required=True, metavar="DIR", help="folder for train/ and val/ token shards")
    tokenize.add_argument("--workers", type=int, metavar="N", help="worker processes (default: all cores)")
    tokenize.add_argument("--val-fraction", type=float, default=0.0, metavar="F",
                          help="share of documents held out in val/ (default 0)")
    tokenize.add_argument("--seed", type=int, default=0, metavar="S", help="seed of the shuffle and split (default 0)")
    tokenize.add_argument("--dtype", default="auto", choices=["auto", "uint16", "uint32"],
                          help="token dtype (auto: uint16 when the vocabulary fits in 65,536)")
    tokenize.add_argument("--text-key", default="text", metavar="COLUMN", help="the text column (default text)")
    tokenize.add_argument("--overwrite", action="store_true", help="replace token shards made with other settings")
    tokenize.add_argument("--quiet", action="store_true", help="no progress bar or summary")
    tokenize.set_defaults(func=cmd_tokenize)
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
    except KeyboardInterrupt:
        print("interrupted: finished tasks are saved; run the same command again to resume", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
