"""Third-party libraries' log lines go to the task's log file, not the terminal.

trafilatura says "discarding data" for every page it finds no text in, warcio "Replacing
spaces in invalid WARC-Target-URI" for every odd URL: thousands of lines a crawl, which
`--quiet` must not print and a progress bar must not be buried in. The pages concerned are
counted where it means something (`trafilatura:no_text`); the lines are kept, one file a task,
under OUTPUT/logs/<phase>/, for whoever wants to know which pages.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from corpusforge.io.paths import AnyPath

THIRD_PARTY = ("trafilatura", "htmldate", "courlan", "justext", "readability", "warcio", "charset_normalizer")


@contextmanager
def third_party_logs_to(path: AnyPath | None) -> Iterator[None]:
    """While the block runs, THIRD_PARTY loggers write to `path` (replaced each time: a
    rerun of the task writes its own) and nowhere else. None, or a remote output: unchanged."""
    if not isinstance(path, Path):
        yield
        return
    path.parent.mkdir(parents=True, exist_ok=True)
    path.unlink(missing_ok=True)
    handler = logging.FileHandler(path, encoding="utf-8", delay=True)  # no file while nothing is said
    handler.setFormatter(logging.Formatter("%(levelname)s %(name)s: %(message)s"))
    loggers = [logging.getLogger(name) for name in THIRD_PARTY]
    propagate = [lg.propagate for lg in loggers]
    for lg in loggers:
        lg.addHandler(handler)
        lg.propagate = False
    try:
        yield
    finally:
        for lg, before in zip(loggers, propagate):
            lg.removeHandler(handler)
            lg.propagate = before
        handler.close()
