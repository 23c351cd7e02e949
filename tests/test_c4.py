"""The C4 rules, each on documents written for it."""

from __future__ import annotations

import logging
import pickle
from pathlib import Path

import pyarrow as pa
import pytest

from corpusforge.document import Document
from corpusforge.engine.config import load_config
from corpusforge.engine.stage import StageContext
from corpusforge.engine.stats import StageStats
from corpusforge.errors import ConfigError
from corpusforge.schema import validate
from corpusforge.stages.filters.c4_filters import C4Filter, count_sentences
from corpusforge.stages.filters.word_lists import read_word_list

ROOT = Path(__file__).resolve().parent.parent
LDNOOBW = ROOT.parent / "shared" / "data" / "blocklists" / "ldnoobw"

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


# --- bad words (C4's LDNOOBW rule) -----------------------------------------------------------


@pytest.fixture
def warc_file(tmp_path: Path) -> str:
    path = tmp_path / "x.warc.gz"  # config checks only list the inputs
    path.write_bytes(b"")
    return str(path)


def ldnoobw(lang: str) -> str:
    path = LDNOOBW / lang
    if not path.is_file():
        pytest.skip(f"real word lists not found at {path} (clone with ../shared beside the repo)")
    return str(path)


GERMAN = [
    "Der Ausschuss traf sich am Dienstag zur Beratung des Haushalts.",
    "Mehrere Mitglieder sprachen über die steigenden Kosten der Wartung.",
    "Die Vorsitzende schlug einen neuen Zeitplan für die Brücke vor.",
    "Nach einer langen Debatte wurde der Vorschlag klar angenommen.",
    "Die Arbeiten am östlichen Teil beginnen im nächsten Frühjahr.",
]


@pytest.mark.parametrize(
    "line, dropped",
    [
        ("The analysis of the bass line took a whole class period.", False),  # anal, ass inside words
        ("He said the plan was a pain in the ass.", True),
        ("He said the plan was a pain in the ASS.", True),  # the text is lowercased
        ("The ass-backwards plan was rejected at once.", True),  # a hyphen is not a word character
        ("Nobody has seen two girls one cup on the site.", True),  # a phrase
        ("Nobody has seen two  girls\tone cup on the site.", True),  # any blanks between its words
        ("Nobody has seen two girls on the site, nor one cup.", False),  # its words apart
        ("A sexagenarian essayist visited Essex on Tuesday.", False),  # sex inside words
    ],
)
def test_bad_words_on_word_boundaries_with_the_real_list(tmp_path, line, dropped):
    stage = C4Filter(bad_words={"en": ldnoobw("en")})
    out, c = run(stage, [page(line)], tmp_path)
    assert len(out) == (0 if dropped else 1)
    assert c.stats.dropped == ({"c4:bad_words": 1} if dropped else {})


def test_bad_words_look_at_the_cleaned_page_only(tmp_path):
    stage = C4Filter(bad_words={"en": ldnoobw("en")})
    # The line rules remove these lines (no end mark; too short) before the list is read, as
    # in C4, where the bad-words filter ran on the cleaned page.
    out, c = run(stage, [page("Watch this porn video now", "Porn.")], tmp_path)
    assert len(out) == 1 and not c.stats.dropped
    # A page that fails another rule is counted under that rule, not as bad words.
    out, c = run(stage, [page("The porn industry was discussed.", body=BODY[:3])], tmp_path)
    assert c.stats.dropped == {"c4:too_few_sentences": 1}


def test_bad_words_per_language(tmp_path):
    lists = {"en": ldnoobw("en"), "de": ldnoobw("de")}
    german_ace = page("Im letzten Spiel zog er das Ass aus dem Ärmel.", body=GERMAN)  # Ass: an ace
    german_bad = page("Auf der Brücke stand ein Arschloch und schrie laut.", body=GERMAN)
    english_bad = page("He said the plan was a pain in the ass.")
    docs = [
        Document(id="ace", text=german_ace, metadata={"language": "de"}),
        Document(id="de-bad", text=german_bad, metadata={"language": "de"}),
        Document(id="en-bad", text=english_bad, metadata={"language": "en"}),
        Document(id="fr", text=english_bad, metadata={"language": "fr"}),  # no fr list: not checked
    ]
    c = ctx(tmp_path)
    out = list(C4Filter(bad_words=lists).run(docs, c))
    assert [d.id for d in out] == ["ace", "fr"]
    assert c.stats.dropped == {"c4:bad_words": 2}
    # "*" checks the languages without a list of their own (en, fr here) ...
    c = ctx(tmp_path)
    docs = [Document(id=d.id, text=d.text, metadata=dict(d.metadata)) for d in docs]
    out = list(C4Filter(bad_words={"de": lists["de"], "*": lists["en"]}).run(docs, c))
    assert [d.id for d in out] == ["ace"]
    # ... and the ace is kept only because the German list, not the English one, was read.
    c = ctx(tmp_path)
    out = list(
        C4Filter(bad_words={"de": lists["en"]}).run([Document("ace", german_ace, metadata={"language": "de"})], c)
    )
    assert out == [] and c.stats.dropped == {"c4:bad_words": 1}


def test_bad_words_without_a_language_column(tmp_path):
    en, de = ldnoobw("en"), ldnoobw("de")
    bad = page("He said the plan was a pain in the ass.")
    # One list, or a plain path: every document without a language is checked with it.
    for lists in ({"en": en}, en, {"de": de, "*": en}):
        out, c = run(C4Filter(bad_words=lists), [bad], tmp_path)
        assert out == [] and c.stats.dropped == {"c4:bad_words": 1}, lists
    # Several lists and no "*": which one is unknown, so the document is not checked.
    out, c = run(C4Filter(bad_words={"en": en, "de": de}), [bad], tmp_path)
    assert len(out) == 1 and not c.stats.dropped
    # A label with a region or script falls back to its language's list.
    c = ctx(tmp_path)
    out = list(C4Filter(bad_words={"en": en, "de": de}).run([Document("x", bad, metadata={"language": "en-GB"})], c))
    assert out == [] and c.stats.dropped == {"c4:bad_words": 1}


def test_bad_words_as_substrings_for_chinese(tmp_path):
    zh = ldnoobw("zh")
    entries, _ = read_word_list(zh)
    assert "三级片" in entries and "性" in entries
    stage = C4Filter(filter_terminal_punct=False, min_words_per_line=1, min_sentences=1, bad_words={"zh": zh})
    texts = ["他昨天晚上在家里看了一部三级片。", "这个问题的重要性不言而喻。"]  # no spaces around words
    docs = [Document(id=str(i), text=t, metadata={"language": "zh"}) for i, t in enumerate(texts)]
    c = ctx(tmp_path)
    out = list(stage.run(docs, c))
    # 性 ("nature", "-ness") is in most Chinese text: mC4 allowed it, and so do we.
    assert [d.id for d in out] == ["1"] and c.stats.dropped == {"c4:bad_words": 1}


def test_bad_words_annotate_mode(tmp_path):
    en = ldnoobw("en")
    stage = C4Filter(mode="annotate", bad_words={"en": en})
    texts = [
        page(),
        page("Porn, porn and more porn is what the spam promised."),
        page("The porn industry was discussed.", body=BODY[:3]),
        page("He said the plan was a pain in the ass."),
    ]
    docs = [Document(id=str(i), text=t, metadata={"language": "en"}) for i, t in enumerate(texts)]
    docs[3].metadata["language"] = "fr"
    c = ctx(tmp_path)
    out = list(stage.run(docs, c))
    assert [d.text for d in out] == texts and not c.stats.dropped
    meta = [d.metadata for d in out]
    assert [m["c4_bad_words"] for m in meta] == [0, 3, 1, None]  # None: fr has no list
    assert [m["c4_reason"] for m in meta] == [None, "bad_words", "too_few_sentences", None]
    assert stage.columns()["c4_bad_words"] == pa.int32()
    assert set(C4Filter(mode="annotate").columns()) == {
        "c4_reason",
        "c4_lines_removed",
        "c4_lines_kept",
        "c4_sentences",
    }
    out, _ = run(C4Filter(mode="annotate"), [page()], tmp_path)
    assert "c4_bad_words" not in out[0].metadata


def test_bad_words_off_by_default():
    args = validate(C4Filter, {}, "c4")
    assert args["bad_words"] is None
    stage = C4Filter(**args)
    stage.check()  # no files to look at
    assert stage.bad_words_pattern(Document("x", "ass", metadata={"language": "en"})) is None


def test_bad_words_list_file_format_and_warning(tmp_path, caplog):
    path = tmp_path / "list"
    path.write_text("# a comment\n\nFooBar\n  foo   bar  \n...\n-\nfoobar\nc++\n", encoding="utf-8")
    entries, malformed = read_word_list(str(path))
    assert entries == ["foobar", "foo bar", "c++"] and malformed == 2
    stage = C4Filter(bad_words=str(path))
    with caplog.at_level(logging.WARNING):
        stage.check()
    assert "skipped 2 line(s) made only of punctuation" in caplog.text and str(path) in caplog.text
    # Metacharacters are escaped: "c++" is a literal, not "one or more c".
    out, c = run(stage, [page("I wrote it in C++ last year.", "We ccc all over again and again."), page()], tmp_path)
    assert [d.id for d in out] == ["1"] and c.stats.dropped == {"c4:bad_words": 1}


@pytest.mark.parametrize(
    "bad_words, message",
    [
        ({"en": "MISSING"}, "bad_words.en: list file not found: {missing}"),
        ("MISSING", "bad_words: list file not found: {missing}"),
        ({"de": "EMPTY"}, "bad_words.de: {empty} has no entries"),
        ({}, "bad_words is empty"),
        ({"en": ""}, "bad_words.en: expected the path of a list file"),
    ],
)
def test_bad_words_config_errors_name_the_key_and_file(tmp_path, warc_file, bad_words, message):
    missing, empty = tmp_path / "nope" / "en.txt", tmp_path / "empty"
    empty.write_text("# only a comment\n\n")
    paths = {"MISSING": str(missing), "EMPTY": str(empty)}
    real = paths[bad_words] if isinstance(bad_words, str) else {k: paths.get(v, v) for k, v in bad_words.items()}
    data = {
        "input": [warc_file],
        "output": str(tmp_path / "out"),
        "stages": ["warc_reader", "trafilatura", {"c4": {"bad_words": real}}, "parquet_writer"],
    }
    with pytest.raises(ConfigError) as err:
        load_config(data=data)
    assert str(err.value).startswith("stages[2].c4: ")
    assert message.format(missing=missing, empty=empty) in str(err.value)


def test_bad_words_stage_pickles_without_its_regexes(tmp_path):
    stage = C4Filter(bad_words={"en": ldnoobw("en")})
    stage.setup()
    state = pickle.dumps(stage)
    assert len(state) < 2000  # the compiled lists stay behind; each worker compiles them
    clone = pickle.loads(state)
    out, c = run(clone, [page("He said the plan was a pain in the ass.")], tmp_path)
    assert out == [] and c.stats.dropped == {"c4:bad_words": 1}


def test_shipped_c4_pipeline_uses_the_english_list(tmp_path, warc_file, monkeypatch):
    ldnoobw("en")
    monkeypatch.chdir(ROOT)  # the config's paths are relative to the repo root
    config = load_config(ROOT / "pipelines" / "c4.yaml", inputs=[warc_file], output=str(tmp_path / "o"))
    (c4,) = [s for s in config.stages if s.name == "c4"]
    assert c4.args["bad_words"] == {"en": "../shared/data/blocklists/ldnoobw/en"}
    c4.stage.setup()  # the path resolves from the repo root and the list compiles
