"""Read HTML responses out of WARC files (gzip or plain) with warcio.

Only `response` records with HTTP status 200 and an HTML-ish content type become documents;
every other record is counted with its reason. The payload is decoded as `decode_html`
says (valid UTF-8 first, then the header's and the `<meta>` charset, then detection) and the
`charset_source` column records how. A damaged record or gzip member is counted and reading
resumes at the next record; a file that cannot be read further ends the task cleanly after
what was read, counted as `warc_reader:corrupt_file`, so nothing already produced is lost.
A file that is not a WARC at all is one `not_a_warc_file`, not a record count.

Splitting (`split_bytes`): a gzipped WARC larger than `split_bytes` is read by several tasks,
one per `split_bytes` of the file. WARCs gzip record by record, so a record starts where a
gzip member does; the range [a, b) a task is given is rounded forward to record starts: the
task reads the records whose member starts at or after the first record start at or after a
and before the first one at or after b. A record start is a `\x1f\x8b\x08` gzip header that
inflates (a few KB are read) to a `WARC/1.x` line; a false header inside compressed data
does not inflate, so it is passed over. Each task finds its own two ends, so the driver
reads nothing but file sizes; both tasks at a boundary find the same offset, so every record
(and every damaged member) is read and counted by exactly one task, and the documents and
their order are the same whatever the split size. Plain WARCs are not split: their records
are text, and a crawled page that shows a WARC file holds lines that look exactly like
record starts, whose Content-Length checks out too. ARC files and other files are read
whole by the task of the first range (the others read nothing).

Columns a FineWeb/datatrove user queries unchanged: `warc_date` is a UTC timestamp; `id` is
the record's UUID in lower case (crawlers differ in case); `dump` is the crawl the file
belongs to (the warcinfo record's `isPartOf`, else a `CC-MAIN-YYYY-WW` in the file's path);
`file_path` is the input file. Every task reads the file's first record for `dump`, so a
document's columns do not depend on the split either.
"""

from __future__ import annotations

import codecs
import datetime as dt
import functools
import logging
import re
import unicodedata
import zlib
from collections.abc import Iterator
from typing import Annotated

import pyarrow as pa
from warcio.archiveiterator import ArchiveIterator
from warcio.bufferedreaders import DecompressingBufferedReader

from corpusforge.document import Document
from corpusforge.engine.stage import Reader, StageContext
from corpusforge.io.paths import open_input
from corpusforge.schema import Key

log = logging.getLogger(__name__)

# A Common Crawl WARC is ~1 GB: 128 MiB makes 8-9 tasks of a few minutes each (~4,000 pages
# at ~25 pages per core-second), so one file keeps 8 cores busy, while per-task costs (a
# marker, a shard and each global stage's small work files) stay negligible and the last
# task's tail is short.
DEFAULT_SPLIT_BYTES = 128 * 1024 * 1024

_META_CHARSET = re.compile(rb"""<meta[^>]+charset\s*=\s*["']?\s*([A-Za-z0-9_.:-]+)""", re.IGNORECASE)
_HEADER_CHARSET = re.compile(r"charset\s*=\s*[\"']?\s*([A-Za-z0-9_.:-]+)", re.IGNORECASE)


def _codec(name: str | None) -> str | None:
    """The Python codec name for a charset label, or None if Python does not know it."""
    if not name:
        return None
    try:
        return codecs.lookup(name.strip().lower()).name
    except LookupError:
        return None


def decode_html(payload: bytes, content_type: str) -> tuple[str, str, str]:
    """Decode an HTML payload; returns (text, codec used, how it was chosen).

    How (the `charset_source` column): `utf8` / `header` / `meta` — valid UTF-8 is UTF-8 whatever
    the label says (valid multi-byte UTF-8 is vanishingly rare in legacy text, while pages
    labelled latin-1 or cp1252 that are really UTF-8 are common), and the source says which
    label agreed; `header` / `meta` — else the HTTP header's charset, then the `<meta>` one,
    decoded strictly (a latin-1 label means cp1252, as browsers read it); `utf8-replace` — a
    page that is mostly UTF-8 (valid multi-byte sequences at least as many as invalid bytes:
    a UTF-8 page with a few stray bytes) as UTF-8 with replacement characters, when no label
    or only a single-byte one (which decodes anything) is given; `detected` —
    else charset_normalizer's guess, where a Latin-script guess becomes cp1252 (detection
    confuses cp1252 with cp1250 and mac-iceland on short Western text, turning "naïve" into
    "naďve"). A page is never lost to its encoding.
    """
    header = _HEADER_CHARSET.search(content_type or "")
    meta = _META_CHARSET.search(payload[:4096])
    labels = [
        (_codec(header.group(1) if header else None), "header"),
        (_codec(meta.group(1).decode("ascii", "ignore") if meta else None), "meta"),
    ]
    try:
        text = payload.decode("utf-8")
    except UnicodeDecodeError:
        text = None
    if text is not None and (not payload.isascii() or not any(codec for codec, _ in labels)):
        agreed = next((source for codec, source in labels if codec == "utf-8"), "utf8")
        return text, "utf-8", agreed
    mostly_utf8 = _mostly_utf8(payload)
    for codec, source in labels:
        if codec is None or (codec == "utf-8" and text is None):
            continue
        if mostly_utf8 is not None and _single_byte(codec):
            break  # a single-byte codec decodes anything, mojibake included: the bytes say UTF-8
        decoded = _strict(payload, codec)
        if decoded is not None:
            return decoded[0], decoded[1], source
    if mostly_utf8 is not None:
        return mostly_utf8, "utf-8", "utf8-replace"
    return _detect(payload)


@functools.cache
def _single_byte(codec: str) -> bool:
    """Whether every byte is one character in `codec` (latin-1, cp125x, koi8...): such a
    label never fails, so it cannot tell UTF-8 from itself."""
    try:
        return len(bytes(range(0x80, 0x100)).decode(codec, errors="replace")) == 0x80
    except LookupError:
        return False


_SINGLE_BYTE_LATIN_LABELS = {"latin_1", "iso8859-1", "ascii", "cp1252"}


def _strict(payload: bytes, codec: str) -> tuple[str, str] | None:
    """(text, codec) decoded strictly; a latin-1 label reads as cp1252 (the WHATWG rule)."""
    for name in ("cp1252", "latin_1") if codec in _SINGLE_BYTE_LATIN_LABELS else (codec,):
        try:
            return payload.decode(name), name
        except (UnicodeDecodeError, LookupError):
            continue
    return None


def _detect(payload: bytes) -> tuple[str, str, str]:
    from charset_normalizer import from_bytes

    best = from_bytes(payload[:65536]).best()
    codec = _codec(best.encoding) if best is not None else None
    decoded = _strict(payload, codec) if codec is not None else None
    if decoded is not None and decoded[1] != "cp1252" and _latin_script(decoded[0]):
        decoded = _strict(payload, "cp1252") or decoded
    if decoded is not None:
        return decoded[0], decoded[1], "detected"
    return payload.decode("utf-8", errors="replace"), "utf-8", "utf8-replace"


def _latin_script(text: str) -> bool:
    """Whether most non-ASCII letters of `text` are Latin (é, ß, ñ...), not Cyrillic, Greek..."""
    letters = [c for c in text if not c.isascii() and c.isalpha()]
    latin = sum(1 for c in letters if unicodedata.name(c, "").startswith("LATIN"))
    return bool(letters) and latin >= 0.5 * len(letters)


def _mostly_utf8(payload: bytes) -> str | None:
    """The payload decoded as UTF-8 with replacement characters, if its valid multi-byte
    sequences are at least as many as its invalid bytes; else None. Measured on real text:
    cp1252 and latin-1 have no valid sequence at all; Shift-JIS and GBK have 2.3-4 invalid
    bytes per accidental valid sequence; UTF-8 with a few stray bytes has far more valid ones."""
    if payload.isascii():
        return None
    decoded = payload.decode("utf-8", errors="replace")
    replaced = decoded.count("\ufffd")
    invalid = replaced - payload.count("\ufffd".encode())
    valid_multibyte = len(decoded) - len(decoded.encode("ascii", errors="ignore")) - replaced
    return decoded if valid_multibyte > 0 and invalid <= valid_multibyte else None


class _LoudDecompressingReader(DecompressingBufferedReader):
    """warcio prints a gzip error met mid-file to stderr and then reports a clean end of
    file, so every record after the damage would vanish uncounted. Raise instead."""

    def _decompress(self, data: bytes) -> bytes:
        if self.decompressor and data and self.num_block_read:
            return self.decompressor.decompress(data)
        return super()._decompress(data)


class WarcReader(Reader):
    """WARC files → HTML documents (`id` from WARC-Record-ID, `text` the decoded HTML)."""

    name = "warc_reader"

    def __init__(
        self,
        content_types: list[str] = ["text/html", "application/xhtml+xml"],  # noqa: B006
        statuses: list[int] = [200],  # noqa: B006
        split_bytes: Annotated[int, Key(ge=0)] | None = DEFAULT_SPLIT_BYTES,
    ) -> None:
        self.content_types = [c.lower() for c in content_types]
        self.statuses = [str(s) for s in statuses]
        self.split_bytes = split_bytes or 0  # 0 or null: one task per file

    def columns(self) -> dict[str, pa.DataType]:
        return {
            "warc_record_id": pa.string(),
            "warc_date": pa.timestamp("us", tz="UTC"),
            "dump": pa.string(),
            "file_path": pa.string(),
            "content_type": pa.string(),
            "content_length": pa.int64(),
            "charset": pa.string(),
            "charset_source": pa.string(),
        }

    def split(self, path: str, size: int) -> list[tuple[int, int | None]]:
        """One range per `split_bytes` of a gzipped WARC (by its name: no I/O here; a file that
        turns out not to be one is read whole by the first range's task)."""
        name = path.lower()
        if not self.split_bytes or size <= self.split_bytes or not name.endswith(".gz") or name.endswith(".arc.gz"):
            return [(0, None)]
        starts = range(0, size, self.split_bytes)
        return [(a, a + self.split_bytes) for a in starts[:-1]] + [(starts[-1], None)]

    def read(self, path: str, ctx: StageContext) -> Iterator[Document]:
        return self.read_range(path, ctx, 0, None)

    def read_range(self, path: str, ctx: StageContext, start: int, end: int | None) -> Iterator[Document]:
        with open_input(path) as stream:  # a local path, or any pyarrow.fs URI (s3://...)
            kind = _file_kind(stream)
            if kind is None:
                if start == 0:
                    log.warning("%s: not a WARC or ARC file (it does not start with a WARC/ or filedesc:// line)", path)
                    ctx.drop("warc_reader:not_a_warc_file")
                return
            gzipped = kind != "plain"
            dump = _dump(stream, path)
            if kind != "warc.gz":  # read whole, by the first range's task
                if start > 0:
                    return
                begin, stop = 0, None
            else:
                begin = 0 if start == 0 else _record_start(stream, start)
                stop = None if end is None else _record_start(stream, end)
            resume = begin
            while resume is not None and (stop is None or resume < stop):
                resume = yield from self._read_from(stream, resume, stop, gzipped, path, ctx, dump)

    def _read_from(
        self, stream, start: int, stop: int | None, gzipped: bool, path: str, ctx: StageContext, dump: str | None
    ):
        """Read the records that start in [start, stop) (stop None: to the end of the file);
        return where to resume after damage, or None at the end.

        A record is counted only once its whole block has been read, so a record in a corrupt
        gzip member counts as that member alone. A record whose block does not end where its
        Content-Length says (warcio finds no blank line there) is counted as `length_mismatch`,
        and reading resumes at the next record boundary after its start: the next gzip member,
        or in a plain WARC the next `WARC/1.x` line, which a too-long length would have swallowed.
        A record or damage that starts at `stop` or later belongs to the next range's task.
        """
        stream.seek(start)
        records = ArchiveIterator(stream, arc2warc=True)
        records.reader.__class__ = _LoudDecompressingReader
        records.INC_RECORD = ""  # warcio prints its own warning about a bad length; we count it instead
        while True:
            try:
                record = next(records)
            except StopIteration:
                return None
            except Exception as exc:  # noqa: BLE001 - any parse failure ends this stretch only
                if _past(records.offset, stop, path):
                    return None
                return self._damaged(stream, records.offset, stop, gzipped, path, exc, ctx)
            record_start = records.offset
            if _past(record_start, stop, path):
                return None
            ctx.position = record_start
            errors = records.err_count
            try:
                doc, reason = self._document(record, path, dump)
                records.read_to_end()
            except Exception as exc:  # noqa: BLE001 - a bad record is skipped, not fatal
                if gzipped:  # the member is damaged: count it (not also its record) and go on after it
                    return self._damaged(stream, record_start, stop, gzipped, path, exc, ctx)
                log.warning("%s: record at offset %s is corrupt (%s: %s)", path, record_start, type(exc).__name__, exc)
                ctx.drop("warc_reader:corrupt_record")
                continue
            if records.err_count > errors:
                log.warning(
                    "%s: the record at offset %s does not end where its Content-Length says; skipped, "
                    "resuming at the next record",
                    path,
                    record_start,
                )
                ctx.drop("warc_reader:length_mismatch")
                return _next_record(stream, record_start + 1, gzipped, stop)
            if reason is not None:
                ctx.drop(reason)
            elif doc is not None:
                yield doc

    @staticmethod
    def _damaged(
        stream, damaged: int, stop: int | None, gzipped: bool, path: str, exc: Exception, ctx: StageContext
    ) -> int | None:
        """Count unreadable bytes from `damaged` on; return where the next record starts, if
        any (at most `stop`, where the next range's task goes on: not the end of the file)."""
        resume = _next_record(stream, damaged + 1, gzipped, stop)
        log.warning(
            "%s: unreadable from offset %s (%s: %s); %s",
            path,
            damaged,
            type(exc).__name__,
            exc,
            f"resuming at the next record, offset {resume}"
            if resume is not None
            else "the rest of the file is skipped",
        )
        ctx.drop(
            "warc_reader:corrupt_file"
            if resume is None
            else "warc_reader:corrupt_gzip_member"
            if gzipped
            else "warc_reader:corrupt_record"
        )
        return resume

    def _document(self, record, path: str, dump: str | None) -> tuple[Document | None, str | None]:
        """(document, None) or (None, the reason it is dropped)."""
        if record.rec_type != "response":
            return None, "warc_reader:not_response"
        if record.http_headers is None:
            return None, "warc_reader:no_http_headers"
        status = record.http_headers.get_statuscode()
        if status not in self.statuses:
            return None, f"warc_reader:http_status_{(status or '?')[:1]}xx"
        content_type = record.http_headers.get_header("Content-Type") or ""
        media_type = content_type.split(";")[0].strip().lower()
        if media_type not in self.content_types:
            return None, "warc_reader:content_type"
        payload = record.content_stream().read()
        if getattr(record.raw_stream, "limit", 0) > 0:  # the block ended before its Content-Length
            return None, "warc_reader:truncated_record"
        if not payload.strip():
            return None, "warc_reader:empty"
        html, charset, source = decode_html(payload, content_type)
        record_id = record.rec_headers.get_header("WARC-Record-ID") or ""
        return Document(
            id=record_id.strip("<>").removeprefix("urn:uuid:").lower(),
            text=html,
            url=record.rec_headers.get_header("WARC-Target-URI"),
            metadata={
                "warc_record_id": record_id,
                "warc_date": _timestamp(record.rec_headers.get_header("WARC-Date")),
                "dump": dump,
                "file_path": path,
                "content_type": media_type,
                "content_length": len(payload),
                "charset": charset,
                "charset_source": source,
            },
        ), None


_DUMP = re.compile(r"CC-MAIN-\d{4}-\d{2}")


def _dump(stream, path: str) -> str | None:
    """The crawl a WARC belongs to: its warcinfo record's `isPartOf`, else the CC-MAIN-YYYY-WW
    in its path. Reads the first record only; the stream is left where it was."""
    here = stream.tell()
    try:
        stream.seek(0)
        first = next(iter(ArchiveIterator(stream, arc2warc=True)), None)
        if first is not None and first.rec_type == "warcinfo":
            for line in first.content_stream().read(1 << 16).decode("utf-8", "replace").splitlines():
                key, _, value = line.partition(":")
                if key.strip().lower() == "ispartof" and value.strip():
                    return value.strip()
    except Exception:  # noqa: BLE001 - a damaged first record is the reading loop's to count
        pass
    finally:
        stream.seek(here)
    found = _DUMP.search(path)
    return found.group(0) if found else None


def _timestamp(value: str | None) -> dt.datetime | None:
    """WARC-Date (ISO 8601, UTC, seconds or finer) as an aware datetime; None if unreadable."""
    try:
        when = dt.datetime.fromisoformat(value.strip()) if value else None
    except ValueError:
        return None
    if when is not None and when.tzinfo is None:
        when = when.replace(tzinfo=dt.UTC)
    return when.astimezone(dt.UTC) if when is not None else None


_RECORD_START = re.compile(rb"\nWARC/1\.[0-9]\r?\n")
_GZIP_MAGIC = b"\x1f\x8b\x08"  # a gzip member header: ID1 ID2 and CM = deflate
_WARC_LINE = re.compile(rb"WARC/1\.[0-9]\r?\n")


def _file_kind(stream) -> str | None:
    """`warc.gz` (a gzipped WARC: may be split), `gz` (a gzipped ARC) or `plain` (a plain WARC
    or ARC), or None when the file is neither a WARC nor an ARC. An empty file is a WARC
    without records; so is a gzip file damaged at its start (the record loop counts the damage)."""
    head = stream.read(1 << 16)
    stream.seek(0)
    gzipped = head[:2] == b"\x1f\x8b"
    if gzipped:
        try:
            head = zlib.decompressobj(31).decompress(head, 64)
        except zlib.error:
            return "warc.gz"
    head = head.lstrip(b"\r\n")
    if not head or head.startswith(b"WARC/"):
        return "warc.gz" if gzipped else "plain"
    if head.startswith(b"filedesc://"):
        return "gz" if gzipped else "plain"
    return None


def _record_start(stream, pos: int) -> int | None:
    """The first record start at or after `pos` in a gzipped WARC: a gzip member header whose
    member inflates to a `WARC/1.x` line; None if there is none before the end. Reads a few KB
    per candidate, never the file: boundaries are found without decompressing anything else."""
    while (found := _next_gzip_member(stream, pos, block=1 << 16)) is not None:
        stream.seek(found)
        try:
            head = zlib.decompressobj(31).decompress(stream.read(4096), 64)
        except zlib.error:
            head = b""
        if _WARC_LINE.match(head.lstrip(b"\r\n")):
            return found
        pos = found + 1
    return None


def _past(offset: int, stop: int | None, path: str) -> bool:
    """Whether a record starting at `offset` belongs to the next range (at `stop` or later).

    The record before `stop` must end exactly there: one that runs past it means `stop` was
    not a record start but a gzip member stored inside a record (a crawled .warc.gz file),
    and the next range's task has read records that are not this file's. That file cannot be
    split; the run stops rather than write those."""
    if stop is None or offset < stop:
        return False
    if offset > stop:
        raise ValueError(
            f"{path}: the record before byte {stop} runs on to byte {offset}, so the split point found at "
            f"{stop} lies inside a record (a gzip member stored in it looked like a record start); "
            "read this file whole with warc_reader's split_bytes: 0"
        )
    return True


def _next_record(stream, pos: int, gzipped: bool, stop: int | None = None) -> int | None:
    """Where the next record starts at or after `pos` (a gzip member, or a WARC/1.x line), or
    `stop` if none does before it (None: the end of the file)."""
    if gzipped:
        return _next_gzip_member(stream, pos, stop)
    block = 1 << 20
    while stop is None or pos < stop:
        stream.seek(pos - 1)
        chunk = stream.read(block + 16)
        if len(chunk) < 8:
            break
        found = _RECORD_START.search(chunk)
        if found:
            at = pos + found.start()  # the match starts at the newline before the record
            return at if stop is None else min(at, stop)
        pos += block
    return stop


def _next_gzip_member(stream, pos: int, stop: int | None = None, block: int = 1 << 20) -> int | None:
    """Offset of the next gzip member header at or after `pos` (WARCs gzip record by record),
    or `stop` if none starts before it (None: the end of the file)."""
    while stop is None or pos < stop:
        stream.seek(pos)
        chunk = stream.read(block + len(_GZIP_MAGIC) - 1)
        if len(chunk) < len(_GZIP_MAGIC):
            break
        found = chunk.find(_GZIP_MAGIC)
        if found >= 0:
            return pos + found if stop is None else min(pos + found, stop)
        pos += block
    return stop
