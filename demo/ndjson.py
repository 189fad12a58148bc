"""The lines of a delivery window as NDJSON text, written to its landing file.

Identities (UUIDs) and timestamps are formatted as byte matrices with numpy; one DuckDB query
per slice of rows assembles each event's JSON line from them and the catalogue's strings.
"""

from __future__ import annotations

import gzip
import os
import time
from pathlib import Path
from typing import BinaryIO

import duckdb
import numpy as np
import pyarrow as pa

from demo.arrays import GOLDEN, Frame, frame_length, mix64, take_rows
from demo.catalogue import Catalogue
from demo.delivery import EPOCH_FORM, TIMESTAMP_OFFSETS, WindowLines
from demo.rhythm import DAY_MS, HOUR_MS
from demo.traffic import IMPRESSION
from ingest.vocabulary import EVENT_TYPES

GZIP_LEVEL = 1  # level 6 is ~15% smaller but 3x slower
SLICE_ROWS = 250_000  # lines serialised per DuckDB query
CHANNELS = ("web", "mobile")


def _bitmap(valid: np.ndarray | None) -> pa.Buffer | None:
    return None if valid is None else pa.py_buffer(np.packbits(valid, bitorder="little"))


def _strings(
    chars: np.ndarray, keep: np.ndarray | None = None, valid: np.ndarray | None = None
) -> pa.Array:
    """The rows of a uint8 char matrix as arrow strings; `keep` masks the columns a row uses."""
    n, width = chars.shape
    if keep is None:
        offsets = np.arange(0, (n + 1) * width, width, dtype=np.int64)
        data = np.ascontiguousarray(chars)
    else:
        offsets = np.zeros(n + 1, dtype=np.int64)
        np.cumsum(keep.sum(axis=1), out=offsets[1:])
        data = chars[keep]
    return pa.Array.from_buffers(
        pa.large_string(), n, [_bitmap(valid), pa.py_buffer(offsets), pa.py_buffer(data)]
    )


def _numbers(values: np.ndarray, valid: np.ndarray) -> pa.Array:
    """A numeric arrow array with nulls where not `valid`."""
    return pa.Array.from_buffers(
        pa.from_numpy_dtype(values.dtype),
        len(values),
        [_bitmap(valid), pa.py_buffer(np.ascontiguousarray(values))],
    )


_HEX = np.frombuffer(b"0123456789abcdef", dtype=np.uint8)
_UUID_HEX_COLUMNS = np.r_[0:8, 9:13, 14:18, 19:23, 24:36]


def _uuids(keys: np.ndarray, valid: np.ndarray | None = None) -> pa.Array:
    """Version-4 UUID strings; distinct keys give distinct UUIDs."""
    n = len(keys)
    words = np.stack([mix64(keys), mix64(keys ^ GOLDEN)], axis=1).astype(">u8")
    octets = words.view(np.uint8).reshape(n, 16)
    chars = np.full((n, 36), ord("-"), dtype=np.uint8)
    digits = np.empty((n, 32), dtype=np.uint8)
    digits[:, 0::2], digits[:, 1::2] = _HEX[octets >> 4], _HEX[octets & 15]
    chars[:, _UUID_HEX_COLUMNS] = digits
    chars[:, 14] = ord("4")
    chars[:, 19] = _HEX[8 + (octets[:, 8] & 3)]
    return _strings(chars, valid=valid)


def _put_digits(chars: np.ndarray, start: int, width: int, values: np.ndarray) -> None:
    for i in range(width):
        chars[:, start + width - 1 - i] = 48 + (values // 10**i) % 10


def _civil_from_days(days: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(year, month, day) of days since 1970-01-01 (H. Hinnant's algorithm)."""
    z = days + 719_468
    era = z // 146_097
    doe = z - era * 146_097
    yoe = (doe - doe // 1460 + doe // 36_524 - doe // 146_096) // 365
    doy = doe - (365 * yoe + yoe // 4 - yoe // 100)
    mp = (5 * doy + 2) // 153
    day = doy - (153 * mp + 2) // 5 + 1
    month = np.where(mp < 10, mp + 3, mp - 9)
    return yoe + era * 400 + (month <= 2), month, day


_OFFSET_MINUTES = np.array([*TIMESTAMP_OFFSETS, 0])


def _timestamp_keep() -> np.ndarray:
    """For each form and with / without milliseconds: the columns of the widest layout,
    `"2026-11-20T15:45:03.120+05:30"`, that the form keeps."""
    keep = np.zeros((EPOCH_FORM + 1, 2, 31), dtype=bool)
    for form, minutes in enumerate(_OFFSET_MINUTES):
        if form == EPOCH_FORM:
            keep[form, :, :13] = True
            continue
        keep[form, :, :20] = True
        keep[form, 1, 20:24] = True  # ".mmm"
        keep[form, :, 24:30] = minutes != 0  # "+05:30"
        keep[form, :, 24] = True  # or "Z"
        keep[form, :, 30] = True
    return keep


_TS_TEMPLATE = np.frombuffer(b'"0000-00-00T00:00:00.000+00:00"', dtype=np.uint8)
_TS_KEEP = _timestamp_keep()
_TS_SUFFIX = np.array(
    [
        np.frombuffer(
            f"{'+' if m >= 0 else '-'}{abs(m) // 60:02d}:{abs(m) % 60:02d}".encode(), dtype=np.uint8
        )
        for m in _OFFSET_MINUTES
    ]
)
_TS_SUFFIX[_OFFSET_MINUTES == 0, 0] = ord("Z")


def _timestamps(ms: np.ndarray, form: np.ndarray) -> pa.Array:
    """JSON values (quoted RFC 3339 strings or bare epoch milliseconds) for `ms` in `form`;
    strings leave out the milliseconds when they are zero."""
    local = ms + _OFFSET_MINUTES[form] * 60_000
    days, in_day = np.divmod(local, DAY_MS)
    year, month, day = _civil_from_days(days)
    chars = np.empty((len(ms), 31), dtype=np.uint8)
    chars[:] = _TS_TEMPLATE
    for start, width, values in (
        (1, 4, year),
        (6, 2, month),
        (9, 2, day),
        (12, 2, in_day // HOUR_MS),
        (15, 2, in_day // 60_000 % 60),
        (18, 2, in_day // 1000 % 60),
        (21, 3, in_day % 1000),
    ):
        _put_digits(chars, start, width, values)
    chars[:, 24:30] = _TS_SUFFIX[form]
    epoch = np.flatnonzero(form == EPOCH_FORM)
    epoch_chars = np.empty((len(epoch), 13), dtype=np.uint8)
    _put_digits(epoch_chars, 0, 13, ms[epoch])
    chars[epoch, :13] = epoch_chars
    return _strings(chars, _TS_KEEP[form, (in_day % 1000 > 0).astype(np.int64)])


_LINE_SQL = """
SELECT concat(
    '{"event_id":"', eid, '","event_type":"', etype, '","occurred_at":', occ,
    ',"received_at":', rec, ',"organization":"', org, '","bot":"', bot,
    '","visitor_id":"', vid, '"',
    ',"conversation_id":"' || cid || '"',
    ',"channel":"' || channel || '"',
    ',"page_url":"' || page || '"',
    ',"properties":' || CASE et
        WHEN 1 THEN '{"start_action":"' || lab || '"}'
        WHEN 2 THEN coalesce('{"text":"' || lab || coalesce(num::VARCHAR, '') || lab2 || '"}',
                             '{}')
        WHEN 3 THEN '{"rating":' || num || '}'
        WHEN 5 THEN '{"intent":"' || lab || '"' || coalesce(',"confidence":' || val, '') || '}'
        WHEN 6 THEN '{"api":"' || lab || '","status_code":' || num
                    || coalesce(',"duration_ms":' || val, '') || '}'
        WHEN 7 THEN '{"goal":"' || lab || '"' || coalesce(',"reason":"' || lab2 || '"', '') || '}'
    END,
    '}', chr(10)) AS line
FROM batch
"""

_EVENT_TYPE_VALUES = pa.array(EVENT_TYPES, type=pa.string())
_CHANNEL_VALUES = pa.array(CHANNELS, type=pa.string())


def _dictionary(codes: np.ndarray, values: pa.Array) -> pa.DictionaryArray:
    """Codes into `values` as a dictionary array; negative codes are nulls."""
    indices = _numbers(np.maximum(codes, 0).astype(np.int32), codes >= 0)
    return pa.DictionaryArray.from_arrays(indices, values)


class LineWriter:
    """Serialises events of one catalogue; one per thread."""

    def __init__(self, catalogue: Catalogue) -> None:
        self.catalogue = catalogue
        self.labels = pa.array(catalogue.labels.values, type=pa.string())
        self.orgs = pa.array(catalogue.org_names, type=pa.string())
        self.bots = pa.array(catalogue.bot_names, type=pa.string())
        self.con = duckdb.connect()

    def close(self) -> None:
        self.con.close()

    def lines(self, rows: Frame) -> list[pa.Array]:
        labels = self.labels
        batch = pa.table(
            {
                "eid": _uuids(rows["event_key"]),
                "et": rows["type"],
                "etype": _dictionary(rows["type"], _EVENT_TYPE_VALUES),
                "occ": _timestamps(rows["occurred"], rows["occurred_form"]),
                "rec": _timestamps(rows["received"], rows["received_form"]),
                "org": _dictionary(self.catalogue.bot_org[rows["bot"]], self.orgs),
                "bot": _dictionary(rows["bot"], self.bots),
                "vid": _uuids(rows["visitor_key"]),
                "cid": _uuids(rows["conversation_key"], valid=rows["type"] != IMPRESSION),
                "channel": _dictionary(rows["channel"], _CHANNEL_VALUES),
                "page": _dictionary(rows["page"], labels),
                "lab": _dictionary(rows["label"], labels),
                "lab2": _dictionary(rows["detail"], labels),
                "num": _numbers(rows["number"], rows["number"] >= 0),
                "val": _numbers(rows["measure"], ~np.isnan(rows["measure"])),
            }
        )
        self.con.register("batch", batch)
        try:
            return self.con.sql(_LINE_SQL).to_arrow_table().column("line").chunks
        finally:
            self.con.unregister("batch")

    def write_events(self, out: BinaryIO, rows: Frame) -> None:
        for begin in range(0, frame_length(rows), SLICE_ROWS):  # bounds the memory per query
            for chunk in self.lines(take_rows(rows, slice(begin, begin + SLICE_ROWS))):
                out.write(_string_data(chunk))


def _string_data(chunk: pa.Array) -> memoryview:
    """The concatenated UTF-8 bytes of a string array, without copying."""
    width = np.int64 if pa.types.is_large_string(chunk.type) else np.int32
    offsets = np.frombuffer(chunk.buffers()[1], dtype=width)[
        chunk.offset : chunk.offset + len(chunk) + 1
    ]
    return memoryview(chunk.buffers()[2])[int(offsets[0]) : int(offsets[-1])]


def write_window(
    writer: LineWriter, window: WindowLines, path: Path, compress: bool, delivered_ms: int
) -> int:
    """Writes a window's lines into the file at `path`, dated (modification time) when its
    window closed, as a platform delivering it then would have, but never in the future (a
    recent file is one still being written); returns the bytes written."""
    with path.open("wb") as raw:
        out = (
            gzip.GzipFile(filename="", mode="wb", fileobj=raw, mtime=0, compresslevel=GZIP_LEVEL)
            if compress
            else raw
        )
        done = 0
        for line, after in zip(window.junk.lines, window.junk_after.tolist(), strict=True):
            writer.write_events(out, take_rows(window.events, slice(done, after)))
            out.write(line + b"\n")
            done = after
        writer.write_events(out, take_rows(window.events, slice(done, None)))
        if compress:
            out.close()
        size = raw.tell()
    stamp_ns = min(delivered_ms * 1_000_000, time.time_ns())
    os.utime(path, ns=(stamp_ns, stamp_ns))
    return size
