"""Shared fixtures: the real data in ../shared/data, and small WARC files cut from it."""

from __future__ import annotations

import io
import uuid
from pathlib import Path

import pytest
from warcio.archiveiterator import ArchiveIterator
from warcio.statusandheaders import StatusAndHeaders
from warcio.warcwriter import WARCWriter

ROOT = Path(__file__).resolve().parent.parent
SHARED = ROOT.parent / "shared" / "data"
WARC_DIR = SHARED / "warc"
# The sample crawls the tests' figures were measured on (22 + 15 + 181 HTML responses); the
# folder holds more (readability-130), which the extraction tests read by name.
SAMPLE_WARCS = ("cc-sample-0000.warc.gz", "cc-sample-0001.warc.gz", "articles-181.warc.gz")


def sample_warcs() -> list[Path]:
    """The three sample crawls, or a skip that says where they should be."""
    paths = [WARC_DIR / name for name in SAMPLE_WARCS]
    missing = [p for p in paths if not p.is_file()]
    if missing:
        pytest.skip(f"real WARC data not found at {missing[0]} (clone with ../shared beside the repo)")
    return paths


@pytest.fixture(scope="session")
def warc_dir() -> Path:
    if not WARC_DIR.is_dir():
        pytest.skip(f"real WARC data not found at {WARC_DIR} (clone with ../shared beside the repo)")
    return WARC_DIR


@pytest.fixture(scope="session")
def article_pages(warc_dir: Path) -> list[tuple[str, bytes, bytes]]:
    """(url, Content-Type header, HTML payload) of every article page, in file order."""
    pages = []
    with open(warc_dir / "articles-181.warc.gz", "rb") as f:
        for rec in ArchiveIterator(f):
            if rec.rec_type == "response":
                url = rec.rec_headers.get_header("WARC-Target-URI")
                pages.append(
                    (url, rec.http_headers.get_header("Content-Type") or "text/html", rec.content_stream().read())
                )
    return pages


def write_warc(
    path: Path,
    responses: list[tuple[str, bytes]],
    content_type: str = "text/html; charset=utf-8",
    status: str = "200 OK",
    extra: list[tuple[str, str, bytes]] = (),
    gzip: bool = True,
) -> Path:
    """Write response records (url, payload[, content type]) plus `extra` (rec_type, url, payload)."""
    with open(path, "wb") as out:
        writer = WARCWriter(out, gzip=gzip)
        for url, payload, *ctype in responses:
            content_type_ = ctype[0] if ctype else content_type
            http = StatusAndHeaders(
                status, [("Content-Type", content_type_), ("Content-Length", str(len(payload)))], protocol="HTTP/1.1"
            )
            rec = writer.create_warc_record(
                url,
                "response",
                payload=io.BytesIO(payload),
                http_headers=http,
                warc_headers_dict={
                    "WARC-Record-ID": f"<urn:uuid:{uuid.uuid5(uuid.NAMESPACE_URL, url + str(len(payload)))}>"
                },
            )
            writer.write_record(rec)
        for rec_type, url, payload in extra:
            rec = writer.create_warc_record(url, rec_type, payload=io.BytesIO(payload), warc_content_type="text/plain")
            writer.write_record(rec)
    return path


@pytest.fixture
def split_articles(tmp_path: Path, article_pages) -> callable:
    """Write the first `n` article pages into `files` WARC files; returns their paths."""

    def make(n: int, files: int, folder: Path | None = None) -> list[Path]:
        folder = folder or tmp_path / "in"
        folder.mkdir(parents=True, exist_ok=True)
        pages = article_pages[:n]
        paths = []
        for i in range(files):
            chunk = [(url, payload, ctype) for url, ctype, payload in pages[i::files]]
            paths.append(write_warc(folder / f"articles-{i:02d}.warc.gz", chunk))
        return paths

    return make


@pytest.fixture(scope="session")
def speech_paragraphs() -> list[str]:
    """Real English paragraphs from the State of the Union addresses, in archive order."""
    import zipfile

    path = SHARED / "text" / "state_union.zip"
    if not path.exists():
        pytest.skip(f"real text data not found at {path} (clone with ../shared beside the repo)")
    paras = []
    with zipfile.ZipFile(path) as z:
        for name in sorted(z.namelist()):
            if name.endswith(".txt"):
                text = z.read(name).decode("utf-8", "replace")
                paras += [p.strip() for p in text.split("\n\n") if len(p.split()) >= 40]
    return paras


def check_filter(cls, text: str, expected: str | None, **kwargs):
    """Assert a filter's `filter` and `run` (drop and annotate) agree on `expected` for one
    document; return the annotated document."""
    from corpusforge.document import Document
    from corpusforge.engine.stage import StageContext
    from corpusforge.engine.stats import StageStats

    stage = cls(**kwargs)
    assert stage.filter(Document("d", text)) == expected

    ctx = StageContext(task=0, source="t", work_dir=Path("."), stats=StageStats("x"))
    kept = list(stage.run([Document("d", text)], ctx))
    if expected is None:
        assert len(kept) == 1 and not ctx.stats.dropped
    else:
        assert kept == [] and ctx.stats.dropped == {f"{cls.name}:{expected}": 1}

    annotated = Document("d", text)
    ctx = StageContext(task=0, source="t", work_dir=Path("."), stats=StageStats("x"))
    assert list(cls(mode="annotate", **kwargs).run([annotated], ctx)) == [annotated]
    assert annotated.metadata[f"{cls.name}_reason"] == expected
    assert not ctx.stats.dropped
    return annotated


@pytest.fixture(scope="module")
def torch_one_thread():
    """Tiny models on a shared 2-core machine: a second intra-op thread mostly waits for a core
    (steps measured ~3x slower), so the model tests run torch on one thread and restore it."""
    torch = pytest.importorskip("torch")
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


@pytest.fixture(scope="session", autouse=True)
def s3_endpoint() -> str | None:
    """A local S3 server (moto) for the session, with AWS_ENDPOINT_URL pointing at it; None
    when moto is not installed (then `s3` skips the tests that need it). Started before any
    test, so that every worker process (the forkserver, Ray's workers) inherits the variables."""
    try:
        import moto.server  # noqa: F401
    except ImportError:
        yield None
        return
    from s3_server import s3_server

    with s3_server() as endpoint:
        yield endpoint


@pytest.fixture
def s3(s3_endpoint) -> str:
    """A fresh s3:// folder in the test bucket."""
    if s3_endpoint is None:
        pytest.skip(
            "moto is not installed (pip install 'moto[server]', in the dev extra): object-storage output untested"
        )
    from s3_server import BUCKET

    return f"s3://{BUCKET}/{uuid.uuid4().hex[:12]}"
