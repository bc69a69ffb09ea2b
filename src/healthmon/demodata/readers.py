"""Read one exported system table (Parquet, Arrow IPC/Feather, CSV or JSON lines, the text
formats plain or gzip-compressed) into Arrow, typed as the real system table, checking the
columns the gold layer needs.

A table's export is a flat file or a folder as Spark writes it (:func:`data_files`): part files
in any sub-folders, hive partition folders (``event_date=2024-01-01``) whose values become
columns typed as the real table declares them, Databricks' transactional-commit markers
(``_started_<txn>`` / ``_committed_<txn>``: a part file of a transaction is read only when a
``_committed_`` marker lists it), and ``_SUCCESS``, ``.crc`` and other hidden files ignored.

Parquet and Arrow keep their types, which must be compatible with the real ones (any integer
width for an integer, any timestamp unit, decimal/float/integer for a decimal...); a complex
column (struct, map, array) may also arrive as JSON text (pandas, the SQL connector) and is
parsed by the declared type. CSV and JSON carry text: values are parsed into the real type,
complex ones from JSON, as Databricks writes them when exporting; a ``.csv.gz`` / ``.json.gz``
(Spark's ``compression=gzip``, or ``gzip`` by hand) is read as its decompressed text, so its
errors count lines and columns in that text. Map entries are put in key
order (:func:`canonical_maps`), so an import does not depend on the order a writer or a
parser produced them in. Errors name the file, the line (text) or row (Parquet/Arrow), the
column, the value and what was expected.
"""

from __future__ import annotations

import codecs
import csv
import datetime as dt
import gzip
import io
import json
import re
import zlib
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from decimal import Decimal, InvalidOperation
from pathlib import Path
from typing import Any
from urllib.parse import unquote

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from healthmon.demodata.text_fast import Unsupported, file_bytes, from_json_text, has_map, read_text_fast
from healthmon.demodata.types import spark_type
from healthmon.errors import HealthmonError, Location

FORMATS = {".parquet": "parquet", ".csv": "csv", ".json": "json", ".jsonl": "json", ".ndjson": "json",
           ".arrow": "arrow", ".feather": "arrow", ".ipc": "arrow", ".arrows": "arrow"}
# Text formats may come gzip-compressed (``part-00000-….c000.csv.gz``); Parquet compresses
# inside the file (``.snappy.parquet``, a plain ``.parquet`` suffix), so a ``.parquet.gz`` is no
# export Spark writes.
GZIP_FORMATS = frozenset({"csv", "json"})
DATA_SUFFIXES = ".parquet, .csv, .json, .jsonl, .arrow, .feather, .csv.gz, .json.gz"
BATCH_ROWS = 1 << 18         # Parquet/Arrow files are read in batches of at most this many rows
READ_BUFFER = 1 << 20        # bytes buffered per Parquet column while a batch is decoded
HIVE_NULL = "__HIVE_DEFAULT_PARTITION__"
_TXN = re.compile(r"-tid-(\d+)-")
_EPOCH = re.compile(r"[-+]?\d+(\.\d*)?([eE][-+]?\d+)?")


class ImportFormatError(HealthmonError):
    """A system-table export that does not match the real schema."""


# ---------------------------------------------------------------- which files make a table

@dataclass(frozen=True)
class DataFile:
    path: Path
    fmt: str
    partition: tuple[tuple[str, str | None], ...] = ()  # hive partition (column, raw value), outermost first


@dataclass(frozen=True)
class TableFiles:
    files: list[DataFile]
    uncommitted: list[Path]      # part files of a transaction no ``_committed_`` marker lists
    markers: bool                # a ``_SUCCESS`` or commit marker exists (an empty table is still a table)


def _hidden(name: str) -> bool:
    return name.startswith((".", "_")) or name.endswith(".crc")


def data_suffix(name: str) -> str | None:
    """The format suffix of a data file's name as written (``.csv``, ``.json.gz``...); None:
    not a data file."""
    base = name[:-3] if name.lower().endswith(".gz") else name
    suffix = Path(base).suffix
    if suffix.lower() not in FORMATS:
        return None
    return name[len(base) - len(suffix):]


def format_of(path: Path) -> str | None:
    """A data file's format from its name (``csv`` for ``usage.csv.gz`` too); None: not data.
    A gzipped Parquet or Arrow file is an error rather than skipped, so its rows are not lost
    without a word."""
    suffix = data_suffix(path.name)
    if suffix is None:
        return None
    fmt = FORMATS[suffix.lower().removesuffix(".gz")]
    if suffix.lower().endswith(".gz") and fmt not in GZIP_FORMATS:
        raise ImportFormatError(f"a gzip-compressed {fmt} file is not read (Parquet and Arrow compress inside "
                                "the file); gunzip it", location=Location(str(path)))
    return fmt


def _committed(directory: Path, names: list[str]) -> tuple[set[str], set[str], set[str]]:
    """(files added by committed transactions, files they removed, ids of started transactions)."""
    added: set[str] = set()
    removed: set[str] = set()
    started = {n[len("_started_"):] for n in names if n.startswith("_started_")}
    for n in names:
        if n.startswith("_committed_") and not n.startswith("_committed_vacuum"):
            started.add(n[len("_committed_"):])
            try:
                marker = json.loads((directory / n).read_text(encoding="utf-8") or "{}")
            except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
                raise ImportFormatError(
                    f"unreadable commit marker ({exc})", location=Location(str(directory / n))
                ) from None
            if not isinstance(marker, dict):
                raise ImportFormatError("commit marker is not a JSON object", location=Location(str(directory / n)))
            added.update(str(x) for x in marker.get("added") or [])
            removed.update(str(x) for x in marker.get("removed") or [])
    return added, removed, started


# A data file or table folder that cannot be read as one: reading a pipe would block, and a
# dangling link or a device is no data; refusing it names the entry instead of losing its rows.
_NOT_REGULAR = "not a regular file or folder (a dangling link, a pipe or a device)"


def data_files(source: Path) -> TableFiles:
    """The data files of one table export (a file, or a folder as Spark writes it), sorted."""
    if source.is_file():
        fmt = format_of(source)
        if fmt is None:
            raise ImportFormatError(f"not a data file ({DATA_SUFFIXES})", location=Location(str(source)))
        return TableFiles([DataFile(source, fmt)], [], False)
    if not source.is_dir():
        raise ImportFormatError(_NOT_REGULAR, location=Location(str(source)))
    files: list[DataFile] = []
    uncommitted: list[Path] = []
    markers = False

    def walk(directory: Path, partition: tuple[tuple[str, str | None], ...]) -> None:
        nonlocal markers
        entries = sorted(directory.iterdir(), key=lambda p: p.name)
        names = [e.name for e in entries]
        added, removed, started = _committed(directory, names)
        markers = markers or bool(started) or "_SUCCESS" in names
        for entry in entries:
            if _hidden(entry.name):
                continue
            if entry.is_dir():
                part = partition
                if "=" in entry.name:
                    col, _, value = entry.name.partition("=")
                    value = unquote(value)
                    part = partition + ((unquote(col), None if value == HIVE_NULL else value),)
                walk(entry, part)
                continue
            fmt = format_of(entry)
            if fmt is None:
                continue
            if not entry.is_file():
                raise ImportFormatError(_NOT_REGULAR, location=Location(str(entry)))
            txn = _TXN.search(entry.name)
            if txn and txn.group(1) in started and (entry.name not in added or entry.name in removed):
                uncommitted.append(entry)
                continue
            files.append(DataFile(entry, fmt, partition))

    walk(source, ())
    return TableFiles(files, uncommitted, markers)


# ---------------------------------------------------------------- type compatibility (Parquet, Arrow)

def _compatible(
    actual: pa.DataType, expected: pa.DataType, need: set[tuple[str, ...]] | None, where: str
) -> str | None:
    """None if ``actual`` can be cast to ``expected``; else why not. ``need``: struct sub-paths
    that must exist (None = every field of the expected struct that the file has is checked)."""
    if pa.types.is_null(actual) or actual == expected:
        return None
    if pa.types.is_dictionary(actual):
        return _compatible(actual.value_type, expected, need, where)
    if pa.types.is_nested(expected) and (pa.types.is_string(actual) or pa.types.is_large_string(actual)):
        return None  # JSON text, parsed by the declared type
    if pa.types.is_string(expected) or pa.types.is_large_string(expected):
        ok = pa.types.is_string(actual) or pa.types.is_large_string(actual)
    elif pa.types.is_integer(expected):
        ok = pa.types.is_integer(actual)
    elif pa.types.is_floating(expected):
        ok = pa.types.is_floating(actual) or pa.types.is_integer(actual) or pa.types.is_decimal(actual)
    elif pa.types.is_decimal(expected):
        ok = pa.types.is_decimal(actual) or pa.types.is_integer(actual) or pa.types.is_floating(actual)
    elif pa.types.is_boolean(expected):
        ok = pa.types.is_boolean(actual)
    elif pa.types.is_timestamp(expected):
        ok = pa.types.is_timestamp(actual)
    elif pa.types.is_date(expected):
        ok = pa.types.is_date(actual) or pa.types.is_timestamp(actual)
    elif pa.types.is_map(expected):
        if not pa.types.is_map(actual):
            return f"expected {spark_type(expected)}, found {spark_type(actual)}"
        return (_compatible(actual.key_type, expected.key_type, None, where)
                or _compatible(actual.item_type, expected.item_type, None, where))
    elif pa.types.is_list(expected):
        if not (pa.types.is_list(actual) or pa.types.is_large_list(actual)):
            return f"expected {spark_type(expected)}, found {spark_type(actual)}"
        return _compatible(actual.value_type, expected.value_type, None, where)
    elif pa.types.is_struct(expected):
        if not pa.types.is_struct(actual):
            return f"expected {spark_type(expected)}, found {spark_type(actual)}"
        names = {f.name for f in actual}
        wanted = {p[0] for p in need} if need else names & {f.name for f in expected}
        for name in sorted(wanted):
            if name not in names:
                return f"struct field {where}.{name} is missing"
            sub = {p[1:] for p in need if p[0] == name and len(p) > 1} if need else None
            why = _compatible(actual.field(name).type, expected.field(name).type, sub or None, f"{where}.{name}")
            if why:
                return f"{where}.{name}: {why}" if not why.startswith("struct field") else why
        return None
    else:
        ok = False
    return None if ok else f"expected {spark_type(expected)}, found {spark_type(actual)}"


def _cast_array(arr: pa.Array, expected: pa.DataType) -> pa.Array:
    """Cast a compatible column to the expected type; struct fields the file lacks become NULL;
    JSON text becomes the declared complex type."""
    if isinstance(arr, pa.DictionaryArray):
        arr = arr.dictionary_decode()
    if arr.type == expected:
        return arr
    if pa.types.is_nested(expected) and (pa.types.is_string(arr.type) or pa.types.is_large_string(arr.type)):
        return json_text_column(arr.cast(pa.string()), expected)
    if pa.types.is_struct(expected) and pa.types.is_struct(arr.type):
        names = {f.name for f in arr.type}
        children = [_cast_array(arr.field(f.name), f.type) if f.name in names else pa.nulls(len(arr), f.type)
                    for f in expected]
        return pa.StructArray.from_arrays(children, fields=list(expected), mask=arr.is_null())
    return pc.cast(arr, expected, safe=False)


def json_text_column(text: pa.Array, expected: pa.DataType) -> pa.Array:
    """JSON text per row → ``expected`` (struct, map, array): vectorised when it can be, else
    value by value (raises :class:`_BadValue` naming the row)."""
    try:
        return from_json_text(text, expected)
    except (Unsupported, pa.ArrowException, ValueError):
        pass
    values = []
    for i, v in enumerate(text.to_pylist()):
        try:
            values.append(convert(v, expected, from_text=True))
        except (ValueError, TypeError, KeyError, RecursionError) as exc:
            raise _BadValue(i, v, _reason(exc)) from None
    return pa.array(values, expected)


class _BadValue(Exception):
    def __init__(self, row: int, value, reason: str):
        super().__init__(reason)
        self.row, self.value, self.reason = row, value, reason


def _reason(exc: BaseException) -> str:
    if isinstance(exc, RecursionError):
        return "JSON nested too deeply"
    return str(exc)


def _value_text(value) -> str:
    text = value if isinstance(value, str) else json.dumps(value, default=str)
    return repr(text[:60] + ("…" if len(text) > 60 else ""))


def _column_error(path: Path, column: str, expected: pa.DataType, bad: _BadValue, *, line: int | None = None,
                  row: int | None = None) -> ImportFormatError:
    where = f"row {row}, " if row is not None else ""
    return ImportFormatError(f"{where}column {column}: value {_value_text(bad.value)}: {bad.reason} "
                             f"(expected {spark_type(expected)})",
                             location=Location(str(path), line or 0, 1 if line else 0))


def _read_columnar(df: DataFile, schema: pa.Schema, paths: list[tuple[str, ...]]) -> Iterator[pa.Table]:
    """Parquet or Arrow IPC/Feather, batch by batch, checked against the real types."""
    path = df.path
    from_dir = {c for c, _ in df.partition}
    try:
        if df.fmt == "parquet":
            # column chunks read through a small buffer, not whole (pre_buffer): a row group of a
            # wide table can be hundreds of MB, and memory should hold one batch, not one group
            pf = pq.ParquetFile(path, pre_buffer=False, buffer_size=READ_BUFFER)
            file_schema = pf.schema_arrow
        else:
            reader = _open_ipc(path)
            file_schema = reader.schema
    except (pa.ArrowException, OSError) as exc:
        raise ImportFormatError(f"not a readable {'Parquet' if df.fmt == 'parquet' else 'Arrow IPC'} file ({exc})",
                                location=Location(str(path))) from None
    tops = [t for t in dict.fromkeys(p[0] for p in paths) if t not in from_dir or t in file_schema.names]
    for top in tops:
        if top not in file_schema.names:
            raise ImportFormatError(f"missing column {top} ({spark_type(schema.field(top).type)})",
                                    location=Location(str(path)))
        need = {p[1:] for p in paths if p[0] == top and len(p) > 1}
        why = _compatible(file_schema.field(top).type, schema.field(top).type, need or None, top)
        if why:
            raise ImportFormatError(f"column {top}: {why}", location=Location(str(path)))
    if df.fmt == "parquet":
        batches = pf.iter_batches(batch_size=BATCH_ROWS, columns=tops, use_threads=True)
    else:
        batches = _ipc_batches(reader)
    offset = 0
    try:
        for batch in batches:
            cols = []
            for t in tops:
                try:
                    cols.append(_cast_array(batch.column(t), schema.field(t).type))
                except _BadValue as bad:
                    raise _column_error(path, t, schema.field(t).type, bad, row=offset + bad.row + 1) from None
                except (pa.ArrowException, ValueError) as exc:
                    raise ImportFormatError(f"rows {offset + 1}-{offset + batch.num_rows}, column {t}: {exc} "
                                            f"(expected {spark_type(schema.field(t).type)})",
                                            location=Location(str(path))) from None
            offset += batch.num_rows
            yield pa.table(cols, schema=pa.schema([schema.field(t).with_nullable(True) for t in tops]))
    except (pa.ArrowException, OSError) as exc:
        raise ImportFormatError(f"unreadable data after row {offset} ({exc})", location=Location(str(path))) from None


def _open_ipc(path: Path):
    """An Arrow IPC file (Feather v2) or stream reader; Feather v1 through pyarrow.feather."""
    try:
        return pa.ipc.open_file(path)
    except pa.ArrowInvalid:
        pass
    try:
        return pa.ipc.open_stream(pa.memory_map(str(path)))
    except pa.ArrowInvalid:
        import pyarrow.feather as feather

        return feather.read_table(str(path))


def _ipc_batches(reader) -> Iterator[pa.RecordBatch]:
    if isinstance(reader, pa.Table):
        yield from reader.to_batches(max_chunksize=BATCH_ROWS)
    elif isinstance(reader, pa.ipc.RecordBatchFileReader):
        for i in range(reader.num_record_batches):
            yield reader.get_batch(i)
    else:
        yield from reader


# ---------------------------------------------------------------- text formats (CSV, JSON lines)

def _parse_ts(v) -> dt.datetime:
    if isinstance(v, bool):
        raise ValueError("not a timestamp")
    if isinstance(v, (int, float)):
        # A JSON number is what pandas' default to_json writes for a timestamp (epoch
        # milliseconds); seconds below 1e11 (year 5138), as other writers use.
        try:
            return dt.datetime.fromtimestamp(v / 1000 if abs(v) > 1e11 else v, dt.timezone.utc)
        except (OverflowError, OSError, ValueError):
            raise ValueError("epoch number out of range") from None
    if _EPOCH.fullmatch(str(v).strip()):
        # Digits in text (a CSV field, a JSON string) are no writer's timestamp format: a guess
        # at their unit would import wrong times silently.
        raise ValueError("a number written as text is not a timestamp (write ISO 8601, e.g. 2024-01-31T10:00:00Z)")
    s = str(v).strip().replace("Z", "+00:00")
    if " " in s and "T" not in s:
        s = s.replace(" ", "T", 1)
    if s.endswith(" UTC"):
        s = s[:-4] + "+00:00"
    try:
        t = dt.datetime.fromisoformat(s)
    except ValueError:
        raise ValueError("not a timestamp (ISO 8601, e.g. 2024-01-31T10:00:00Z)") from None
    return t if t.tzinfo else t.replace(tzinfo=dt.timezone.utc)


def _parse_date(v) -> dt.date:
    if isinstance(v, (int, float)) and not isinstance(v, bool):
        raise ValueError("a number is not a date (pandas writes dates as epoch milliseconds unless "
                         "to_json(date_format='iso'); write YYYY-MM-DD)")
    try:
        return dt.date.fromisoformat(str(v).strip()[:10])
    except ValueError:
        raise ValueError("not a date (YYYY-MM-DD)") from None


def convert(value, dtype: pa.DataType, *, from_text: bool):
    """A JSON/CSV value → the Python value of ``dtype`` (raises ValueError with a reason)."""
    if value is None or (from_text and value == ""):
        return None
    if pa.types.is_string(dtype):
        return value if isinstance(value, str) else json.dumps(value)
    if pa.types.is_boolean(dtype):
        if isinstance(value, bool):
            return value
        s = str(value).strip().lower()
        if s in ("true", "1"):
            return True
        if s in ("false", "0"):
            return False
        raise ValueError("not a boolean (true/false)")
    if pa.types.is_integer(dtype):
        if isinstance(value, bool) or isinstance(value, (dict, list)):
            raise ValueError("not an integer")
        if isinstance(value, int):
            out = value
        else:
            try:
                d = Decimal(str(value).strip())
            except InvalidOperation:
                raise ValueError("not an integer") from None
            if not d.is_finite() or d != d.to_integral_value():
                raise ValueError("not an integer")
            out = int(d)
        bits = dtype.bit_width - 1
        if not -(1 << bits) <= out < (1 << bits):
            raise ValueError(f"out of range for {spark_type(dtype)}")
        return out
    if pa.types.is_floating(dtype):
        if isinstance(value, (bool, dict, list)):
            raise ValueError("not a number")
        try:
            return float(value)
        except (ValueError, OverflowError):
            raise ValueError("not a number") from None
    if pa.types.is_decimal(dtype):
        if isinstance(value, (bool, dict, list)):
            raise ValueError("not a decimal")
        try:
            d = Decimal(str(value).strip())
        except InvalidOperation:
            raise ValueError("not a decimal") from None
        if not d.is_finite():
            raise ValueError("not a finite decimal")
        try:
            d = d.quantize(Decimal(1).scaleb(-dtype.scale))
        except InvalidOperation:
            raise ValueError(f"out of range for {spark_type(dtype)}") from None
        if len(d.as_tuple().digits) > dtype.precision:
            raise ValueError(f"out of range for {spark_type(dtype)}")
        return d
    if pa.types.is_timestamp(dtype):
        return _parse_ts(value)
    if pa.types.is_date(dtype):
        return _parse_date(value)
    if isinstance(value, str) and (pa.types.is_struct(dtype) or pa.types.is_map(dtype) or pa.types.is_list(dtype)):
        try:
            value = json.loads(value)
        except json.JSONDecodeError:
            raise ValueError("not JSON") from None
        if value is None:
            return None
    if pa.types.is_struct(dtype):
        if not isinstance(value, dict):
            raise ValueError("expected a JSON object")
        return {f.name: convert(value.get(f.name), f.type, from_text=False) for f in dtype}
    if pa.types.is_map(dtype):
        items: Iterable[tuple[Any, Any]]
        if isinstance(value, dict):
            items = value.items()
        elif isinstance(value, list) and all(isinstance(x, dict) and "key" in x for x in value):
            items = [(x["key"], x.get("value")) for x in value]
        elif isinstance(value, list) and all(isinstance(x, list) and len(x) == 2 for x in value):
            items = [(x[0], x[1]) for x in value]
        else:
            raise ValueError("expected a JSON object")
        pairs = [
            (convert(k, dtype.key_type, from_text=False), convert(v, dtype.item_type, from_text=False))
            for k, v in items
        ]
        if any(k is None for k, _ in pairs):
            raise ValueError("a map key is null")
        return pairs
    if pa.types.is_list(dtype):
        if not isinstance(value, list):
            raise ValueError("expected a JSON array")
        return [convert(x, dtype.value_type, from_text=False) for x in value]
    raise ValueError(f"unsupported type {dtype}")


def _bytes_of(path: Path) -> bytes:
    """The file's bytes, decompressed for a ``.gz``; a bad one is an error naming the file."""
    try:
        return file_bytes(path)
    except EOFError:
        raise ImportFormatError("compressed data ends early (a truncated .gz: copy or download it again)",
                                location=Location(str(path))) from None
    except gzip.BadGzipFile as exc:
        why = "not a gzip file" if str(exc).startswith("Not a gzipped file") else f"corrupt gzip data ({exc})"
        raise ImportFormatError(f"{why} (the name ends in .gz)", location=Location(str(path))) from None
    except zlib.error as exc:
        raise ImportFormatError(f"corrupt gzip data ({exc})", location=Location(str(path))) from None


def text_of(path: Path) -> str:
    """The file as text (decompressed for a ``.gz``): UTF-8 (a byte-order mark is dropped) or
    UTF-16 with its BOM. Anything else is an error naming the line of the first undecodable byte."""
    data = _bytes_of(path)
    if data.startswith((codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)):
        try:
            return data.decode("utf-16")
        except UnicodeDecodeError as exc:
            raise ImportFormatError(f"invalid UTF-16 text ({exc.reason})", location=Location(str(path))) from None
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        line = data.count(b"\n", 0, exc.start) + 1
        col = exc.start - (data.rfind(b"\n", 0, exc.start) + 1) + 1
        raise ImportFormatError(
            f"not UTF-8 text (byte 0x{data[exc.start]:02x}); export or re-save the file as UTF-8 "
            "(Excel: 'CSV UTF-8')", location=Location(str(path), line, col)) from None


def _rows_json(path: Path, text: str):
    if text.lstrip().startswith("["):  # one JSON array of records (pandas' to_json(orient="records"))
        yield from _rows_json_array(path, text)
        return
    for lineno, line in enumerate(text.splitlines(), 1):
        if line.strip():
            try:
                row = json.loads(line)
            except json.JSONDecodeError as exc:
                raise ImportFormatError(
                    f"invalid JSON: {exc.msg}", location=Location(str(path), lineno, exc.colno)
                ) from None
            except RecursionError:
                raise ImportFormatError("JSON nested too deeply", location=Location(str(path), lineno, 1)) from None
            if not isinstance(row, dict):
                raise ImportFormatError("expected one JSON object per line", location=Location(str(path), lineno, 1))
            yield lineno, row


def _rows_json_array(path: Path, text: str):
    try:
        rows = json.loads(text)
    except json.JSONDecodeError as exc:
        raise ImportFormatError(
            f"invalid JSON: {exc.msg}", location=Location(str(path), exc.lineno, exc.colno)
        ) from None
    except RecursionError:
        raise ImportFormatError("JSON nested too deeply", location=Location(str(path), 1, 1)) from None
    if not isinstance(rows, list):
        raise ImportFormatError("expected JSON lines or one array of objects", location=Location(str(path), 1, 1))
    for i, row in enumerate(rows, 1):
        if not isinstance(row, dict):
            raise ImportFormatError(f"record {i} of the array is not a JSON object", location=Location(str(path), 1, 1))
        yield 1, row


def _rows_csv(path: Path, text: str, tops: list[str], schema: pa.Schema):
    reader = csv.reader(io.StringIO(text, newline=""))
    try:
        header = next(reader, [])
    except csv.Error as exc:
        raise ImportFormatError(f"invalid CSV: {exc}", location=Location(str(path), 1, 1)) from None
    missing = [t for t in tops if t not in header]
    if missing:
        found = ", ".join(header[:8]) + (", …" if len(header) > 8 else "")
        raise ImportFormatError(f"missing column {missing[0]} ({spark_type(schema.field(missing[0]).type)}); "
                                f"the header has: {found}", location=Location(str(path), 1, 1))
    dup = sorted({h for h in header if header.count(h) > 1 and h in tops})
    if dup:
        raise ImportFormatError(f"column {dup[0]} appears twice in the header", location=Location(str(path), 1, 1))
    index = {h: i for i, h in enumerate(header)}
    start = 2
    try:
        for fields in reader:
            line = start
            start = reader.line_num + 1
            if not fields or fields == [""] * len(fields) and len(fields) <= 1:
                continue  # blank line
            if len(fields) != len(header):
                raise ImportFormatError(f"{len(fields)} field(s) where the header has {len(header)} (a stray "
                                        "delimiter, quote or line break?)", location=Location(str(path), line, 1))
            yield line, {t: fields[index[t]] for t in tops}
    except csv.Error as exc:
        raise ImportFormatError(f"invalid CSV: {exc}", location=Location(str(path), start, 1)) from None


def read_text(path: Path, schema: pa.Schema, paths: list[tuple[str, ...]], fmt: str,
              keys: frozenset[str] = frozenset()) -> pa.Table:
    """Vectorised (pyarrow.csv / pyarrow.json, see :mod:`healthmon.demodata.text_fast`) when the
    file is well-formed; anything it cannot take as is — a malformed line, a value in a form
    only the row reader accepts (``3.0`` for an integer, mixed zoned/naive timestamps...) —
    goes through the row-by-row reader, which gives the same result or the error with its
    line and column."""
    try:
        return read_text_fast(path, schema, paths, fmt, keys)
    except (Unsupported, pa.ArrowException, ValueError, UnicodeDecodeError, EOFError, zlib.error, gzip.BadGzipFile):
        return read_text_rows(path, schema, paths, fmt, keys)  # which also names a bad .gz


def read_text_rows(path: Path, schema: pa.Schema, paths: list[tuple[str, ...]], fmt: str,
                   keys: frozenset[str] = frozenset()) -> pa.Table:
    """The row-by-row reader: every value through :func:`convert` (exact error locations)."""
    tops = list(dict.fromkeys(p[0] for p in paths))
    text = text_of(path)
    rows = _rows_csv(path, text, tops, schema) if fmt == "csv" else _rows_json(path, text)
    from_text = fmt == "csv"
    values: dict[str, list] = {t: [] for t in tops}
    seen: set[str] = set()
    for lineno, row in rows:
        for t in tops:
            if t in row:
                seen.add(t)
            try:
                values[t].append(convert(row.get(t), schema.field(t).type, from_text=from_text))
            except (ValueError, TypeError, KeyError, RecursionError) as exc:
                raise _column_error(path, t, schema.field(t).type, _BadValue(0, row.get(t), _reason(exc)),
                                    line=lineno) from None
    n = len(next(iter(values.values()))) if values else 0
    if fmt == "json" and n:
        # Spark's JSON writer omits null fields, so a key absent from every line is a NULL
        # column — except a key column, which can never be NULL.
        missing = [t for t in tops if t not in seen and t in keys]
        if missing:
            raise ImportFormatError(f"missing column {missing[0]} ({spark_type(schema.field(missing[0]).type)})",
                                    location=Location(str(path)))
    fields = [schema.field(t).with_nullable(True) for t in tops]
    return pa.table({f.name: pa.array(values[f.name], f.type) for f in fields}, schema=pa.schema(fields))


# ---------------------------------------------------------------- one table: all its files

def canonical_maps(arr: pa.Array) -> pa.Array:
    """Every map's entries in key order (at any depth), so the same data gives the same table
    whatever order a writer or parser produced the entries in. Vectorised: one sort of all
    entries by (row, key)."""
    if isinstance(arr, pa.ChunkedArray):
        return pa.chunked_array([canonical_maps(c) for c in arr.chunks], arr.type)
    t = arr.type
    if pa.types.is_struct(t):
        if not any(has_map(f.type) for f in t):
            return arr
        children = [canonical_maps(c) for c in arr.flatten()]
        return pa.StructArray.from_arrays(children, fields=list(t), mask=arr.is_null() if arr.null_count else None)
    if pa.types.is_list(t):
        if not has_map(t.value_type):
            return arr
        offsets = arr.offsets.to_numpy(zero_copy_only=False)
        values = canonical_maps(arr.values.slice(int(offsets[0]), int(offsets[-1] - offsets[0])))
        return pa.ListArray.from_arrays(pa.array(offsets - offsets[0], pa.int32()), values, type=t,
                                        mask=arr.is_null() if arr.null_count else None)
    if not pa.types.is_map(t) or len(arr) == 0:
        return arr
    offsets = arr.offsets.to_numpy(zero_copy_only=False)
    start, end = int(offsets[0]), int(offsets[-1])
    rows = np.repeat(np.arange(len(arr), dtype=np.int64), np.diff(offsets))
    keys = arr.keys.slice(start, end - start)  # .keys/.items ignore the array's own offset
    in_order = len(keys) < 2 or pc.all(pc.or_(pc.less_equal(keys.slice(0, len(keys) - 1), keys.slice(1)),
                                              pa.array(rows[:-1] != rows[1:]))).as_py() is not False
    if in_order and not has_map(t.item_type):
        return arr  # already in key order (the usual case): no sort
    items = canonical_maps(arr.items.slice(start, end - start))
    order = pc.sort_indices(pa.table({"r": rows, "k": keys}), sort_keys=[("r", "ascending"), ("k", "ascending")])
    new_offsets = pa.array(offsets - start, pa.int32())
    return pa.MapArray.from_arrays(new_offsets, keys.take(order), items.take(order), type=t,
                                   mask=arr.is_null() if arr.null_count else None)


def _partition_column(df: DataFile, column: str, field: pa.Field, n: int) -> pa.Array:
    """A hive partition value (from the folder name) as a column of the declared type."""
    raw = dict(df.partition)[column]
    if raw is None:
        return pa.nulls(n, field.type)
    try:
        value = convert(raw, field.type, from_text=True)
    except (ValueError, TypeError) as exc:
        raise ImportFormatError(f"partition folder {column}={raw}: {exc} (expected {spark_type(field.type)})",
                                location=Location(str(df.path.parent))) from None
    return pa.array([value] * n, field.type) if n else pa.array([], field.type)


def read_file(df: DataFile, schema: pa.Schema, paths: list[tuple[str, ...]],
              keys: frozenset[str] = frozenset()) -> Iterator[pa.Table]:
    """One data file as tables of the needed top-level columns (nullable), in file order; hive
    partition values appended as columns; map entries in key order."""
    tops = list(dict.fromkeys(p[0] for p in paths))
    from_dir = {c for c, _ in df.partition if c in tops}
    if df.fmt in ("parquet", "arrow"):
        pieces = _read_columnar(df, schema, paths)
    else:
        file_paths = [p for p in paths if p[0] not in from_dir]
        if not file_paths:
            raise ImportFormatError("no columns to read outside the partition folders", location=Location(str(df.path)))
        pieces = iter([read_text(df.path, schema, file_paths, df.fmt, keys - from_dir)])
    for piece in pieces:
        cols = {}
        for t in tops:
            if t in piece.column_names:
                cols[t] = canonical_maps(piece.column(t))
            else:
                cols[t] = _partition_column(df, t, schema.field(t), piece.num_rows)
        yield pa.table([cols[t] for t in tops], schema=pa.schema([schema.field(t).with_nullable(True) for t in tops]))


def empty_table(schema: pa.Schema, paths: list[tuple[str, ...]]) -> pa.Table:
    tops = list(dict.fromkeys(p[0] for p in paths))
    return pa.schema([schema.field(t).with_nullable(True) for t in tops]).empty_table()


def read_folder(folder: Path, schema: pa.Schema, paths: list[tuple[str, ...]],
                keys: frozenset[str] = frozenset()) -> pa.Table:
    """A whole table export in memory (small tables, tests); see :func:`read_file` to stream."""
    found = data_files(folder)
    if not found.files and not found.markers:
        raise ImportFormatError(f"no data files ({DATA_SUFFIXES})", location=Location(str(folder)))
    parts = [piece for f in found.files for piece in read_file(f, schema, paths, keys)]
    if not parts:
        return empty_table(schema, paths)
    return pa.concat_tables(parts) if len(parts) > 1 else parts[0]
