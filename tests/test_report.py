"""`corpusforge report`: every section on a real sample run, safe escaping of crawled text,
missing inputs, the hook at the end of `corpusforge run`, and a headless Chromium render."""

from __future__ import annotations

import html as htmllib
import json
import re
import shutil
import subprocess

import pyarrow.parquet as pq
import pytest
import yaml
from conftest import ROOT, SHARED, WARC_DIR, write_warc

from corpusforge.cli import main
from corpusforge.engine.config import load_config
from corpusforge.engine.runner import run_pipeline
from corpusforge.report import REPORT_FILE, build_report, write_report

MARK = "cf-adversarial-doc"
SCRIPT = "<script>alert(1)</script>"
SECTION_IDS = [
    "overview",
    "funnel",
    "languages",
    "lengths",
    "duplicates",
    "contamination",
    "rejected",
    "tokens",
    "training",
]


def adversarial_page() -> bytes:
    """An English-looking page whose extracted text holds markup, broken UTF-8 and a 1 MB line."""
    head = htmllib.escape(f"{MARK} {SCRIPT} <img src=x onerror=alert(2)> </pre><b>bold</b> ").encode()
    return (
        b'<html><head><meta charset="utf-8"><title>Adversarial</title></head><body><article>'
        b"<h1>Adversarial page</h1><p>"
        + head
        + b"\xff\xfe\xc3\x28 broken \xed\xa0\x80 bytes "
        + b"word " * 210_000
        + b"</p></article></body></html>"
    )


def article_html(title: str, paragraphs: list[str]) -> bytes:
    body = "".join(f"<p>{htmllib.escape(p)}</p>" for p in paragraphs)
    return (
        f'<html><head><meta charset="utf-8"><title>{htmllib.escape(title)}</title></head><body><article>'
        f"<h1>{htmllib.escape(title)}</h1>{body}</article></body></html>"
    ).encode()


@pytest.fixture(scope="module")
def sample_run(tmp_path_factory, article_pages, speech_paragraphs):
    """The MassiveText pipeline on the two real Common Crawl samples plus a planted file: 30 real
    articles, an exact and a near copy of one, a page quoting a GSM8K test item, the adversarial
    page. Written once per module; the report is built by `corpusforge report`."""
    base = tmp_path_factory.mktemp("report")
    gsm8k = json.loads((SHARED / "evalsets" / "gsm8k_test.jsonl").read_text().splitlines()[0])
    pages = [(url, payload, ctype) for url, ctype, payload in article_pages[:30]]
    url0, payload0, ctype0 = pages[0]
    pages.append((url0 + "?copy=1", payload0, ctype0))  # exact duplicate
    pages.append(("http://near.example/1", article_html("Near copy", speech_paragraphs[:6]), "text/html"))
    pages.append(
        ("http://near.example/2", article_html("Near copy", speech_paragraphs[:6] + ["Updated."]), "text/html")
    )  # near duplicate
    pages.append(
        (
            "http://math.example/homework",
            article_html("Homework help", speech_paragraphs[10:14] + [gsm8k["question"], gsm8k["answer"]]),
            "text/html",
        )
    )  # contaminated
    pages.append(
        ('http://adversarial.example/"><script>alert(3)</script>', adversarial_page(), "text/html; charset=utf-8")
    )
    planted = write_warc(base / "planted.warc.gz", pages)

    cfg = yaml.safe_load((ROOT / "pipelines" / "massivetext.yaml").read_text())
    for stage in cfg["stages"]:
        if isinstance(stage, dict) and "decontaminate" in stage:
            for ts in stage["decontaminate"]["test_sets"]:
                ts["path"] = str((ROOT / ts["path"]).resolve())
    out = base / "out"
    cfg |= {
        "input": [str(WARC_DIR / "cc-sample-0000.warc.gz"), str(WARC_DIR / "cc-sample-0001.warc.gz"), str(planted)],
        "output": str(out),
        "workers": 2,
        "rejected": 20,
    }
    run_pipeline(load_config(data=cfg), quiet=True)
    assert main(["report", str(out)]) == 0
    return out


@pytest.fixture(scope="module")
def report_html(sample_run) -> str:
    return (sample_run / REPORT_FILE).read_bytes().decode("utf-8")  # strict: the page is valid UTF-8


def section_of(page: str, anchor: str) -> str:
    m = re.search(rf'<section id="{anchor}">(.*?)</section>', page, re.DOTALL)
    assert m, f"section {anchor} missing"
    return m.group(1)


def cells(table_html: str) -> list[list[str]]:
    rows = re.findall(r"<tr>(.*?)</tr>", table_html, re.DOTALL)
    return [
        [htmllib.unescape(re.sub(r"<[^>]+>", "", c)) for c in re.findall(r"<t[dh][^>]*>(.*?)</t[dh]>", r, re.DOTALL)]
        for r in rows
    ]


def test_every_section_is_there_and_self_contained(report_html):
    for anchor in SECTION_IDS:
        section_of(report_html, anchor)
    assert "<script" not in report_html.lower(), "no script element, from the report or the data"
    assert not re.search(r"(src|href)=\"(?!data:image/png;base64,|#)", report_html), "no external resource"
    assert "Content-Security-Policy" in report_html and "default-src 'none'" in report_html
    # one embedded PNG per chart: funnel, reasons, languages, score, lengths, clusters
    assert report_html.count('src="data:image/png;base64,') >= 6


def test_funnel_matches_stats_json(sample_run, report_html):
    stats = json.loads((sample_run / "stats.json").read_text())["stages"]
    funnel = section_of(report_html, "funnel")
    rows = cells(funnel.split("<h3>")[0])
    body = [r for r in rows[1:]]
    assert [r[0] for r in body] == [s["name"] for s in stats]
    for r, s in zip(body, stats):
        assert r[1] == f"{s['in']:,}" and r[2] == f"{s['out']:,}" and r[3] == f"{sum(s['dropped'].values()):,}"
    reasons = {r[1]: r[2] for r in cells(funnel.split("<h3>")[1])[1:]}
    expected = {reason: f"{n:,}" for s in stats for reason, n in s["dropped"].items() if n}
    assert reasons == expected
    assert "decontaminate:gsm8k" in reasons and "exact_dedup:duplicate" in reasons


def test_languages_and_lengths_are_plausible(sample_run, report_html):
    table = pq.read_table(sample_run / "data")
    langs = section_of(report_html, "languages")
    kept = cells(langs.split("<h3>Kept</h3>")[1].split("</table>")[0])
    assert kept[1][:2] == ["en", f"{table.num_rows:,}"]  # the filter keeps English only
    assert "Dropped by the language filter" in langs  # the Dolma crawls are multilingual

    lengths = section_of(report_html, "lengths")
    rows = {r[0]: r for r in cells(lengths.split("</table>")[0])}
    after = rows["after filtering (output)"]
    assert after[1] == f"{table.num_rows:,}"
    words = sorted(len(t.split()) for t in table["text"].to_pylist())
    assert (
        after[4] == f"{words[len(words) // 2]:,}" or abs(int(after[4].replace(",", "")) - words[len(words) // 2]) <= 1
    )
    before = rows["before filtering"]
    stats = {s["name"]: s for s in json.loads((sample_run / "stats.json").read_text())["stages"]}
    assert int(before[1].replace(",", "")) == stats["language"]["in"]  # every extracted document, weighted
    assert "Before filtering = the documents entering `language`" in lengths


def test_duplicates_and_contamination(sample_run, report_html):
    dups = {r[0]: r for r in cells(section_of(report_html, "duplicates"))[1:]}
    stats = {s["name"]: s for s in json.loads((sample_run / "stats.json").read_text())["stages"]}
    assert int(dups["exact_dedup"][3]) >= 1, "the planted exact copy forms a cluster"
    assert int(dups["minhash_dedup"][3]) >= 1, "the planted near copy forms a MinHash cluster"
    for stage in ("exact_dedup", "minhash_dedup"):  # members beyond the first of each cluster = dropped
        assert dups[stage][5] == dups[stage][6] == f"{sum(stats[stage]['dropped'].values()):,}"
        assert dups[stage][2] == f"{stats[stage]['in']:,}"

    contam = section_of(report_html, "contamination")
    sets = {r[0]: r for r in cells(contam.split("</table>")[0])[1:]}
    assert set(sets) == {"gsm8k", "humaneval"} and sets["gsm8k"][5] == "1" and sets["humaneval"][4] == "0"
    assert "http://math.example/homework" in contam and "Janet" in contam  # the example match, quoted


def test_dedup_summaries_match_the_stats_and_a_missing_one_is_rewritten_by_a_rerun(sample_run, tmp_path):
    stats = {s["name"]: s for s in json.loads((sample_run / "stats.json").read_text())["stages"]}
    for stage in ("exact_dedup", "minhash_dedup"):
        summary = json.loads((sample_run / f"{stage}.json").read_text())
        assert summary["documents"] == stats[stage]["in"]
        assert (
            summary["duplicates"] == sum(stats[stage]["dropped"].values()) == stats[stage]["in"] - stats[stage]["out"]
        )
        assert sum(summary["cluster_sizes"].values()) >= 1

    old = tmp_path / "old-run"  # as a run from before the summaries left it
    shutil.copytree(sample_run, old, ignore=shutil.ignore_patterns(".lock"))
    written = (old / "exact_dedup.json").read_text()
    (old / "exact_dedup.json").unlink()
    (old / "minhash_dedup.json").unlink()
    dups = section_of(build_report(old), "duplicates")
    assert 'class="error"' not in dups
    assert "exact_dedup: no readable exact_dedup.json" in dups and "minhash_dedup: no readable" in dups
    assert "run the same command again" in dups
    cfg = yaml.safe_load((old / "config.yaml").read_text())
    cfg.pop("hash"), cfg.pop("files", None)  # what the run recorded beside the config keys
    run_pipeline(load_config(data=cfg | {"output": str(old)}), quiet=True)  # complete: only finish() runs
    assert (old / "exact_dedup.json").read_text() == written and (old / "minhash_dedup.json").is_file()
    assert "no readable" not in section_of(build_report(old), "duplicates")


def test_adversarial_document_is_escaped_and_truncated(report_html):
    rejected = section_of(report_html, "rejected")
    card = next(c for c in rejected.split('<div class="doccard">') if MARK in c)
    assert htmllib.escape(SCRIPT) in card and "&lt;img src=x onerror=alert(2)&gt;" in card
    assert "<img src=x" not in report_html and "</pre><b>bold" not in report_html
    assert "alert(3)" in card and '"><script>' not in report_html  # the URL, escaped too
    assert re.search(r"truncated: showing 1,200 of [\d,]+ characters", card)
    assert len(card) < 5_000, "the 1 MB line is cut, not embedded"
    assert " broken " in card  # the invalid bytes arrive as whatever the reader decoded them to


def test_hostile_inputs_written_directly(tmp_path):
    """What the pipeline cannot produce but a damaged or hand-made folder can: lone surrogates,
    control characters, markup in reasons, URLs, metadata and contamination matches."""
    out = tmp_path / "out"
    (out / "rejected").mkdir(parents=True)
    evil = SCRIPT + "\ud800\udfff\x00\x1b[31m" + "x" * 1_000_000
    line = json.dumps(
        {
            "reason": "q:<b>r</b>",
            "id": "<i>id</i>",
            "url": "javascript:alert(1)",
            "text": evil,
            "truncated": False,
            "metadata": {"language": "<script>", "k": "\udc80"},
        }
    )
    (out / "rejected" / "q-r.jsonl").write_text(line + "\n{not json\n", encoding="utf-8")
    (out / "contamination.json").write_text(
        json.dumps(
            {
                "action": "drop",
                "test_sets": [
                    {
                        "name": "<script>s</script>",
                        "mode": "ngram",
                        "examples": [{"id": "d", "url": "u", "matched": evil}],
                    }
                ],
            }
        )
    )
    (out / "stats.json").write_text(
        json.dumps(
            {
                "stages": [
                    {
                        "name": "q",
                        "in": 2,
                        "out": 1,
                        "bytes_in": 10,
                        "bytes_out": 5,
                        "dropped": {"q:<b>r</b>": 1},
                        "seconds": 0,
                    }
                ]
            }
        )
    )
    page = build_report(out)
    page.encode("utf-8")  # no lone surrogate survives
    assert "<script" not in page.lower() and "<b>r</b>" not in page and "<i>id</i>" not in page
    assert "\x00" not in page and "\x1b" not in page
    assert 'href="javascript' not in page
    assert len(page) < 400_000
    assert "1 unreadable line(s) skipped" in page
    for anchor in ("languages", "lengths"):  # no shards: said, not failed
        assert "No output shards in data/" in section_of(page, anchor)


def test_missing_inputs_are_explained(tmp_path):
    out = tmp_path / "empty"
    out.mkdir()
    page = build_report(out)
    for anchor in SECTION_IDS:
        body = section_of(page, anchor)
        assert 'class="error"' not in body, anchor
    assert "stats.json not found" in page and "No token shards named" in page and "No training runs named" in page
    with pytest.raises(Exception, match="no such output folder"):
        build_report(tmp_path / "nope")


def test_tokens_and_training_runs(tmp_path):
    out = tmp_path / "out"
    out.mkdir()
    toks = []
    for name, bpt in (("bpe-50k", 4.1), ("multiword-256k", 5.3)):
        d = tmp_path / name
        d.mkdir()
        (d / "summary.json").write_text(
            json.dumps(
                {
                    "tokenizer": name,
                    "dtype": "uint32",
                    "eos_id": 0,
                    "shards": 1,
                    "rows": 10,
                    "empty": 0,
                    "encoded_to_nothing": 0,
                    "train": {"documents": 9, "tokens": 1009, "text_bytes": int(1000 * bpt), "bytes_per_token": bpt},
                    "val": {"documents": 1, "tokens": 0, "text_bytes": 0, "bytes_per_token": None},
                }
            )
        )
        (d / "tokenize.json").write_text(json.dumps({"vocab_size": 50_257 if "50k" in name else 256_000}))
        toks.append(str(d))
    run = tmp_path / "run-a"
    run.mkdir()
    rows = ["step,tokens,loss,val_loss,lr,tokens_per_s,mfu"]
    rows += [
        f"{s},{s * 4096},{10 / (1 + s / 10):.4f},{'' if s % 5 else f'{10 / (1 + s / 10) + 0.1:.4f}'},3e-4,12000,0.31"
        for s in range(1, 41)
    ]
    (run / "log.csv").write_text("\n".join(rows) + "\n")
    bad = tmp_path / "run-b"
    bad.mkdir()
    (bad / "log.csv").write_text("step,foo\n1,2\n")
    assert main(["report", str(out), "--tokens", *toks, str(tmp_path / "missing"), "--runs", str(run), str(bad)]) == 0
    page = (out / REPORT_FILE).read_text()
    tokens = section_of(page, "tokens")
    by_tok = {r[0]: r for r in cells(tokens)[1:]}
    assert by_tok["bpe-50k"][7] == "4.100" and by_tok["multiword-256k"][2] == "256,000"
    assert "missing: no readable summary.json" in tokens and "data:image/png" in tokens
    training = section_of(page, "training")
    run_row = cells(training)[1]
    assert run_row[:3] == ["run-a", "40", "40"] and run_row[5] == "2.1000"  # best val_loss, at step 40: 10/5 + .1
    assert "no `loss` column" in training and "data:image/png" in training


def test_run_writes_the_report_and_survives_a_report_failure(sample_run, tmp_path, monkeypatch, capsys):
    """`corpusforge run` on the finished sample run does no pipeline work, then writes the
    report; a failing report is a warning and the run still succeeds."""
    cfg = yaml.safe_load((sample_run / "config.yaml").read_text())
    cfg.pop("hash"), cfg.pop("files", None)  # what the run recorded beside the config keys
    config = tmp_path / "again.yaml"
    config.write_text(yaml.safe_dump(cfg, sort_keys=False))
    (sample_run / REPORT_FILE).unlink()
    assert main(["run", str(config), "--quiet"]) == 0
    assert (sample_run / REPORT_FILE).exists()

    from corpusforge import report

    def boom(*_a, **_k):
        raise RuntimeError("kaboom")

    monkeypatch.setattr(report, "write_report", boom)
    assert main(["run", str(config), "--quiet"]) == 0
    assert "report could not be written: RuntimeError: kaboom" in capsys.readouterr().err
    (sample_run / REPORT_FILE).unlink()
    assert main(["run", str(config), "--quiet", "--no-report"]) == 0
    assert not (sample_run / REPORT_FILE).exists()
    write_report(sample_run)  # leave it for the screenshot test


def chromium() -> str | None:
    for name in (
        "chromium",
        "chromium-browser",
        "google-chrome",
        "google-chrome-stable",
        "chrome",
        "chromium-headless-shell",
    ):
        if path := shutil.which(name):
            return path
    return None


def test_report_renders_in_headless_chromium(sample_run, tmp_path):
    browser = chromium()
    if browser is None:
        pytest.skip("no Chromium or Chrome on this machine (e.g. `apt-get install chromium`): screenshot not taken")
    shot = tmp_path / "report.png"
    proc = subprocess.run(
        [
            browser,
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--hide-scrollbars",
            "--window-size=1200,4000",
            f"--screenshot={shot}",
            (sample_run / REPORT_FILE).resolve().as_uri(),
        ],
        check=False,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert shot.exists(), proc.stderr[-2000:]
    import numpy as np
    from PIL import Image

    pixels = np.asarray(Image.open(shot).convert("RGB"), dtype=np.int16)
    assert pixels.shape == (4000, 1200, 3)
    assert len(np.unique(pixels[::8, ::8].reshape(-1, 3), axis=0)) > 50, "text and charts, not a blank page"
    assert (pixels < 100).all(axis=2).mean() > 0.002, "dark text is drawn"
    # the funnel chart is drawn: its bars' blue (#4C72B0) covers a real area of the page
    blue = (np.abs(pixels - np.array([0x4C, 0x72, 0xB0])) < 12).all(axis=2)
    assert blue.sum() > 20_000
