"""Read HTML responses out of WARC files (gzip or plain) with warcio.

Only `response` records with HTTP status 200 and an HTML-ish content type become documents;
every other record is counted with its reason. The payload is decoded with the charset
named by the HTTP header, else by the page's `<meta>` tag, else by detection (UTF-8 first,
then charset_normalizer). A corrupt record is counted and skipped; a file that cannot be
read further (truncated gzip, garbage bytes) ends the task cleanly after what was read,
counted as `warc_reader:corrupt_file`, so nothing already produced is lost.
"""

from __future__ import annotations

import codecs
import logging
import re
from typing import Iterator

import pyarrow as pa
from warcio.archiveiterator import ArchiveIterator
from warcio.bufferedreaders import DecompressingBufferedReader

from corpusforge.document import Document
from corpusforge.fs import open_input
from corpusforge.stage import Reader, StageContext

log = logging.getLogger(__name__)

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


def decode_html(payload: bytes, content_type: str) -> tuple[str, str]:
    """Decode an HTML payload; returns (text, codec used).

    Header and meta charsets are tried strictly in that order (a wrong label is common),
    then UTF-8, then charset_normalizer's best guess; as a last resort UTF-8 with
    replacement characters, so a page is never lost to its encoding.
    """
    header = _HEADER_CHARSET.search(content_type or "")
    meta = _META_CHARSET.search(payload[:4096])
    candidates = [
        _codec(header.group(1) if header else None),
        _codec(meta.group(1).decode("ascii", "ignore") if meta else None),
        "utf-8",
    ]
    for codec in candidates:
        if codec is None:
            continue
        try:
            return payload.decode(codec), codec
        except (UnicodeDecodeError, LookupError):
            continue
    mostly_utf8 = _mostly_utf8(payload)
    if mostly_utf8 is not None:
        # A UTF-8 page with a few stray bytes (a truncated copy-paste, one bad byte) would
        # otherwise go to detection, which guesses a single-byte codec and garbles all of it.
        return mostly_utf8, "utf-8-replace"
    from charset_normalizer import from_bytes

    best = from_bytes(payload[:65536]).best()
    codec = _codec(best.encoding) if best is not None else None
    if codec is not None:
        try:
            return payload.decode(codec), codec
        except (UnicodeDecodeError, LookupError):
            pass
    return payload.decode("utf-8", errors="replace"), "utf-8-replace"


def _mostly_utf8(payload: bytes, max_invalid: float = 0.02) -> str | None:
    """The payload decoded as UTF-8 with replacement characters, if it has valid multi-byte
    sequences and invalid bytes under `max_invalid` of its non-ASCII bytes; else None.
    Latin-1 or cp1252 text mislabelled as UTF-8 fails: its lone high bytes are invalid."""
    non_ascii = len(payload) - len(payload.decode("ascii", errors="ignore"))
    if non_ascii == 0:
        return None
    decoded = payload.decode("utf-8", errors="replace")
    replaced = decoded.count("\ufffd")
    invalid = replaced - payload.count("\ufffd".encode())
    valid_multibyte = len(decoded) - len(decoded.encode("ascii", errors="ignore")) - replaced
    return decoded if valid_multibyte > 0 and invalid <= max_invalid * non_ascii else None


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
    ) -> None:
        self.content_types = [c.lower() for c in content_types]
        self.statuses = [str(s) for s in statuses]

    def columns(self) -> dict[str, pa.DataType]:
        return {
            "warc_record_id": pa.string(),
            "warc_date": pa.string(),
            "content_type": pa.string(),
            "content_length": pa.int64(),
            "charset": pa.string(),
        }

    def read(self, path: str, ctx: StageContext) -> Iterator[Document]:
        with open_input(path) as stream:  # a local path, or any pyarrow.fs URI (s3://...)
            start = 0
            while start is not None:
                start = yield from self._read_from(stream, start, path, ctx)

    def _read_from(self, stream, start: int, path: str, ctx: StageContext):
        """Read records from byte `start`; return where to resume after damage, or None at the end."""
        stream.seek(start)
        records = ArchiveIterator(stream, arc2warc=True)
        records.reader.__class__ = _LoudDecompressingReader
        gzipped = stream.read(2) == b"\x1f\x8b"
        stream.seek(start)
        while True:
            try:
                record = next(records)
            except StopIteration:
                return None
            except Exception as exc:  # noqa: BLE001 - any parse failure ends this stretch only
                damaged = max(start, records.member_info[0] if records.member_info else records.offset)
                resume = _next_gzip_member(stream, damaged + 1) if gzipped else None
                log.warning("%s: unreadable from offset %s (%s: %s); %s", path, damaged, type(exc).__name__, exc,
                            f"resuming at the next gzip member, offset {resume}" if resume is not None
                            else "the rest of the file is skipped")
                ctx.drop("warc_reader:corrupt_file" if resume is None else "warc_reader:corrupt_gzip_member")
                return resume
            try:
                doc = self._document(record, path, ctx)
            except Exception as exc:  # noqa: BLE001 - a bad record is skipped, not fatal
                log.warning("%s: record at offset %s is corrupt (%s: %s)", path, records.offset,
                            type(exc).__name__, exc)
                ctx.drop("warc_reader:corrupt_record")
                continue
            if doc is not None:
                yield doc

    def _document(self, record, path: str, ctx: StageContext) -> Document | None:
        if record.rec_type != "response":
            ctx.drop("warc_reader:not_response")
            return None
        if record.http_headers is None:
            ctx.drop("warc_reader:no_http_headers")
            return None
        status = record.http_headers.get_statuscode()
        if status not in self.statuses:
            ctx.drop(f"warc_reader:http_status_{(status or '?')[:1]}xx")
            return None
        content_type = record.http_headers.get_header("Content-Type") or ""
        media_type = content_type.split(";")[0].strip().lower()
        if media_type not in self.content_types:
            ctx.drop("warc_reader:content_type")
            return None
        payload = record.content_stream().read()
        if getattr(record.raw_stream, "limit", 0) > 0:  # the file ended inside this record
            ctx.drop("warc_reader:truncated_record")
            return None
        if not payload.strip():
            ctx.drop("warc_reader:empty")
            return None
        html, charset = decode_html(payload, content_type)
        record_id = record.rec_headers.get_header("WARC-Record-ID") or ""
        return Document(
            id=record_id.strip("<>").removeprefix("urn:uuid:"),
            text=html,
            url=record.rec_headers.get_header("WARC-Target-URI"),
            metadata={
                "warc_record_id": record_id,
                "warc_date": record.rec_headers.get_header("WARC-Date"),
                "content_type": media_type,
                "content_length": len(payload),
                "charset": charset,
            },
        )


def _next_gzip_member(stream, pos: int, block: int = 1 << 20) -> int | None:
    """Offset of the next gzip member header at or after `pos` (WARCs gzip record by record)."""
    magic = b"\x1f\x8b\x08"
    while True:
        stream.seek(pos)
        chunk = stream.read(block + len(magic) - 1)
        if len(chunk) < len(magic):
            return None
        found = chunk.find(magic)
        if found >= 0:
            return pos + found
        pos += block
