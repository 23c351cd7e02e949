"""The configs and recipes that ship with corpusforge, found by name from any folder.

They live at the top of the repository, `pipelines/` (pipeline configs, `pipelines/training/`
training configs) and `tokenizers/` (tokenizer recipes), where a newcomer looks for them.
`corpusforge/_shipped/` links to those folders, so an editable install reads the repo's files
and a wheel carries copies of them as package data: the same lookup serves both.
"""

from __future__ import annotations

import itertools
import os
import shutil
import textwrap
from pathlib import Path

from corpusforge.errors import ConfigError

SHIPPED = Path(__file__).resolve().parent / "_shipped"
# kind → (folder under _shipped, what a user calls it, the verb that takes it)
KINDS = {
    "pipeline": ("pipelines", "pipeline config", "corpusforge run NAME"),
    "training": ("pipelines/training", "training config", "corpusforge train NAME"),
    "recipe": ("tokenizers", "tokenizer recipe", "corpusforge train-tokenizer NAME"),
}


def shipped(kind: str) -> dict[str, Path]:
    """{name: file} of one kind, sorted by name."""
    folder = SHIPPED / KINDS[kind][0]
    return {p.stem: p for p in sorted(folder.glob("*.yaml"))}


def find_shipped(kind: str, name_or_path: str | Path, error: type[ConfigError] = ConfigError) -> Path:
    """A YAML file the user names, or else a shipped file of that kind by name (`massivetext`).
    A name that is neither lists what ships."""
    path = Path(name_or_path)
    if path.is_file() or path.suffix in (".yaml", ".yml") or len(path.parts) > 1:
        return path  # a path: reading it reports a missing file with its name
    found = shipped(kind).get(path.name)
    if found is None:
        names = ", ".join(shipped(kind)) or "none"
        raise error(f"{KINDS[kind][1]} not found: {name_or_path} (no such file; shipped: {names})")
    return found


def shipped_name(path: str | Path) -> str | None:
    """The shipped name of a file found by `find_shipped`, or None for the user's own file."""
    p = Path(path).resolve()
    for kind in KINDS:
        if shipped(kind).get(p.stem, Path()).resolve() == p:
            return p.stem
    return None


def relative_paths_hint(path: str | Path) -> str:
    """What to tell a user whose shipped config names files (the sample WARCs, blocklists, test
    sets in ../shared/data) that are not where they run: the paths are relative to that folder."""
    name = shipped_name(path)
    if name is None:
        return ""
    return (
        f"\n  ({name} is a shipped config; its paths are relative to the folder you run in, {os.getcwd()}. "
        f"Run where they exist, give --input/--output, or `corpusforge copy-config {name}` and edit the paths.)"
    )


def describe(path: Path, width: int = 96) -> str:
    """A file's opening comment, shortened to a line: what it is for."""
    lines = itertools.takewhile(lambda line: line.startswith("#"), path.read_text().splitlines())
    text = " ".join(line.lstrip("# ").strip() for line in lines)
    return textwrap.shorten(text, width, placeholder=" ...")


def list_shipped() -> str:
    lines = []
    for kind, (_, what, usage) in KINDS.items():
        lines.append(f"{what}s ({usage}):")
        lines += [f"  {name:<32} {describe(p)}" for name, p in shipped(kind).items()]
    lines.append("copy one out for editing: corpusforge copy-config NAME [DEST]")
    return "\n".join(lines)


def copy_shipped(name: str, dest: str | Path | None = None) -> Path:
    """Copy a shipped file to DEST (default ./NAME.yaml); never over an existing file."""
    matches = [files[name] for kind in KINDS if name in (files := shipped(kind))]
    if not matches:
        known = ", ".join(n for kind in KINDS for n in shipped(kind))
        raise ConfigError(f"nothing shipped is called {name!r} (shipped: {known})")
    target = Path(dest) if dest is not None else Path(f"{name}.yaml")
    if target.is_dir():
        target = target / f"{name}.yaml"
    if target.exists():
        raise ConfigError(f"{target} already exists: choose another destination (corpusforge never overwrites it)")
    shutil.copyfile(matches[0], target)
    return target
