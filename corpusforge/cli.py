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
