"""Run the corpusforge CLI and kill its whole process group with SIGKILL just before or just
after its Nth atomic rename (`os.replace`): `CORPUSFORGE_FAULT=before:N` or `after:N`.
`CORPUSFORGE_FAULT=count:FILE` runs to the end and writes how many renames there were.

With one worker the pipeline, tokenize and train all run in this process, so the count is
deterministic. Used by tests/test_faults.py; never imported by corpusforge itself.
"""

from __future__ import annotations

import atexit
import os
import signal
import sys
from pathlib import Path

mode, _, arg = os.environ["CORPUSFORGE_FAULT"].partition(":")
renames = 0
_replace = os.replace


def _kill() -> None:
    sys.stdout.flush()
    os.killpg(os.getpgrp(), signal.SIGKILL)


def replace(src, dst, *args, **kwargs):  # noqa: ANN001, ANN002, ANN003 - os.replace's own signature
    global renames
    renames += 1
    if mode == "before" and renames == int(arg):
        _kill()
    _replace(src, dst, *args, **kwargs)
    if mode == "after" and renames == int(arg):
        _kill()


os.replace = replace
if mode == "count":
    atexit.register(lambda: Path(arg).write_text(str(renames)))

from corpusforge.cli import main  # noqa: E402 - after the patch, so every module sees it

sys.exit(main(sys.argv[1:]))
