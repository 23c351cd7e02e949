"""The C4 rules, each on documents written for it."""

from __future__ import annotations

import pickle
from pathlib import Path

import pytest

from corpusforge.document import Document
from corpusforge.engine.stage import StageContext
from corpusforge.engine.stats import StageStats
from corpusforge.schema import validate
from corpusforge.stages.filters.c4_filters import C4Filter, count_sentences

# Five sentences on five lines, each ending with a full stop and long enough.
BODY = [
    "The committee met on Tuesday to review the annual budget.",
    "Several members raised concerns about rising maintenance costs.",
    "The chair proposed a new schedule for the bridge repairs.",
    "After a long debate the proposal was accepted by a wide margin.",
    "Work on the eastern span is expected to begin next spring.",
]


def ctx(tmp_path: Path) -> StageContext:
    return StageContext(task=0, source="t", work_dir=tmp_path, stats=StageStats("x"))


def run(stage: C4Filter, texts: list[str], tmp_path: Path) -> tuple[list[Document], StageContext]:
    c = ctx(tmp_path)
    docs = [Document(id=str(i), text=t) for i, t in enumerate(texts)]
    return list(stage.run(docs, c)), c


def page(*extra: str, body: list[str] = BODY) -> str:
    return "\n".join([*body, *extra])


def test_clean_page_kept_and_normalised(tmp_path):
    text = "  Home | News | Contact  \n\n" + "\n\n".join(f"  {line}  " for line in BODY) + "\nShare this\n"
    out, c = run(C4Filter(), [text], tmp_path)
    assert len(out) == 1 and not c.stats.dropped
    assert out[0].text == "\n".join(BODY)


@pytest.mark.parametrize(
    "end, kept",
    [
        (".", True),
        ("!", True),
        ("?", True),
        ('"', True),
        ("'", True),
        (":", False),
        (",", False),
        ("", False),
        ("...", False),
        ("…", False),
        (")", False),
    ],
)
def test_terminal_punctuation(tmp_path, end, kept):
    line = f"This line ends in a particular way{end}"
    out, _ = run(C4Filter(), [page(line)], tmp_path)
    assert (line in out[0].text.splitlines()) is kept
    out, _ = run(C4Filter(filter_terminal_punct=False), [page(line)], tmp_path)
    assert line in out[0].text.splitlines()


@pytest.mark.parametrize(
    "line, threshold, kept",
    [
        ("Two words.", 3, False),
        ("Three whole words.", 3, True),
        ("Two words.", 2, True),
        ("One.", 2, False),
        ("One.", 0, True),
    ],
)
def test_min_words_per_line(tmp_path, line, threshold, kept):
    out, _ = run(C4Filter(min_words_per_line=threshold), [page(line)], tmp_path)
    assert (line in out[0].text.splitlines()) is kept


def test_javascript_lines(tmp_path):
    line = "Please enable JavaScript in your browser to view this site."
    out, c = run(C4Filter(), [page(line)], tmp_path)
    assert out[0].text == "\n".join(BODY)
    out, _ = run(C4Filter(filter_javascript=False), [page(line)], tmp_path)
    assert line in out[0].text


@pytest.mark.parametrize(
    "line",
    [
        "By using this site you agree to our Terms of Use.",
        "Read our privacy policy before you sign up.",
        "See our Cookie Policy for more details.",
        "This website uses cookies to improve your experience.",
        "We explain our use of cookies on this page.",
        "We use cookies to personalise content and ads.",
    ],
)
def test_policy_lines(tmp_path, line):
    out, _ = run(C4Filter(), [page(line)], tmp_path)
    assert out[0].text == "\n".join(BODY)
    out, _ = run(C4Filter(filter_policy=False), [page(line)], tmp_path)
    assert line in out[0].text


def test_lorem_ipsum(tmp_path):
    text = page("Lorem ipsum dolor sit amet, consectetur adipiscing elit.")
    out, c = run(C4Filter(), [text, page()], tmp_path)
    assert [d.id for d in out] == ["1"]
    assert c.stats.dropped == {"c4:lorem_ipsum": 1}
    out, c = run(C4Filter(filter_lorem_ipsum=False), [text], tmp_path)
    assert len(out) == 1 and "Lorem ipsum" in out[0].text
    # As in C4, only lines that pass the line rules count: a placeholder heading does not.
    out, c = run(C4Filter(), [page("Lorem Ipsum")], tmp_path)
    assert len(out) == 1 and not c.stats.dropped


def test_curly_bracket(tmp_path):
    text = page("The function returns { x: 1 } when it is called.")
    out, c = run(C4Filter(), [text], tmp_path)
    assert out == [] and c.stats.dropped == {"c4:curly_bracket": 1}
    out, c = run(C4Filter(filter_curly_bracket=False), [text], tmp_path)
    assert len(out) == 1 and "{ x: 1 }" in out[0].text
    # A bracket in a line the line rules remove does not count (C4's order) ...
    out, c = run(C4Filter(), [page("var a = {b: 1}")], tmp_path)
    assert len(out) == 1 and not c.stats.dropped
    # ... nor one in a javascript line, removed before the bracket rule looks at it.
    out, c = run(C4Filter(), [page("In JavaScript an object is written {a: 1} like this.")], tmp_path)
    assert len(out) == 1 and not c.stats.dropped
    out, c = run(
        C4Filter(filter_javascript=False), [page("In JavaScript an object is written {a: 1} like this.")], tmp_path
    )
    assert out == [] and c.stats.dropped == {"c4:curly_bracket": 1}


def test_min_sentences(tmp_path):
    four, five = page(body=BODY[:4]), page()
    out, c = run(C4Filter(), [four, five], tmp_path)
    assert [d.id for d in out] == ["1"]
    assert c.stats.dropped == {"c4:too_few_sentences": 1}
    out, c = run(C4Filter(min_sentences=4), [four], tmp_path)
    assert len(out) == 1
    # Sentences are counted within lines, not lines: one line of six sentences is enough.
    out, c = run(C4Filter(), [" ".join(BODY) + " It rained."], tmp_path)
    assert len(out) == 1
    # Removed lines do not count.
    out, c = run(C4Filter(), [page(body=BODY[:4]) + "\nThis site uses cookies. Accept them now."], tmp_path)
    assert out == [] and c.stats.dropped == {"c4:too_few_sentences": 1}


def test_no_lines_left(tmp_path):
    texts = ["Home\nAbout us\nContact", "", "   \n\n"]
    out, c = run(C4Filter(), texts, tmp_path)
    assert out == [] and c.stats.dropped == {"c4:no_lines_left": 3}
    out, c = run(C4Filter(min_sentences=0), texts, tmp_path)
    assert out == [] and c.stats.dropped == {"c4:no_lines_left": 3}


def test_citations(tmp_path):
    line = "Paris is the capital of France.[1][citation needed]"
    out, _ = run(C4Filter(), [page(line)], tmp_path)
    assert "Paris is the capital of France." in out[0].text.splitlines()
    out, _ = run(C4Filter(remove_citations=False), [page(line)], tmp_path)
    assert "Paris" not in out[0].text  # it ends in "]", not a sentence end


def test_max_word_length(tmp_path):
    at, above = "x" * 20, "y" * 21
    out, _ = run(
        C4Filter(max_word_length=20), [page(f"A word {at} fits here.", f"A word {above} is too long.")], tmp_path
    )
    assert at in out[0].text and above not in out[0].text
    out, _ = run(C4Filter(max_word_length=None), [page(f"A word {above * 100} is fine.")], tmp_path)
    assert above in out[0].text


def test_annotate_mode_keeps_text_and_records(tmp_path):
    texts = [
        page("Menu", "This site uses cookies to work."),
        page("Lorem ipsum dolor sit amet, consectetur adipiscing elit."),
        page(body=BODY[:2]),
        "Home",
    ]
    stage = C4Filter(mode="annotate")
    out, c = run(stage, texts, tmp_path)
    assert [d.text for d in out] == texts  # nothing changes in annotate mode
    assert not c.stats.dropped
    meta = [d.metadata for d in out]
    assert [m["c4_reason"] for m in meta] == [None, "lorem_ipsum", "too_few_sentences", "no_lines_left"]
    assert (meta[0]["c4_lines_removed"], meta[0]["c4_lines_kept"], meta[0]["c4_sentences"]) == (2, 5, 5)
    assert (meta[2]["c4_lines_removed"], meta[2]["c4_lines_kept"], meta[2]["c4_sentences"]) == (0, 2, 2)
    assert (meta[3]["c4_lines_removed"], meta[3]["c4_lines_kept"]) == (1, 0)
    assert set(stage.columns()) == {"c4_reason", "c4_lines_removed", "c4_lines_kept", "c4_sentences"}
    assert C4Filter().columns() == {}


def test_drop_mode_counts_every_reason(tmp_path):
    texts = [
        page(),
        page("Lorem ipsum dolor sit amet, it is a placeholder."),
        page("Code { goes here }."),
        page(body=BODY[:1]),
        "Nothing here",
        page("Click here"),
    ]
    out, c = run(C4Filter(), texts, tmp_path)
    assert [d.id for d in out] == ["0", "5"]
    assert c.stats.dropped == {
        "c4:lorem_ipsum": 1,
        "c4:curly_bracket": 1,
        "c4:too_few_sentences": 1,
        "c4:no_lines_left": 1,
    }
    assert all("c4_reason" not in d.metadata for d in out)


@pytest.mark.parametrize(
    "line, n",
    [
        ("One sentence here.", 1),
        ("First one. Second one! Third one?", 3),
        ('He said "stop." Then he left.', 2),
        ("It cost 3.5 dollars, e.g. the price of tea. Yes.", 2),
        ("No end mark at all", 1),
        ("...", 0),
        ("Wait... What happened?", 2),
    ],
)
def test_count_sentences(line, n):
    assert count_sentences(line) == n


def test_config_and_pickle():
    args = validate(C4Filter, {"min_sentences": 3, "max_word_length": None, "filter_policy": False}, "c4")
    stage = C4Filter(**args)
    assert stage.min_sentences == 3 and stage.max_word_length is None and not stage.filter_policy
    assert pickle.loads(pickle.dumps(stage)).min_sentences == 3
    with pytest.raises(ValueError):
        C4Filter(min_sentences=-1)
