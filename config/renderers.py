"""Streaming export formats for lists (`?format=jsonl`, `?format=csv`).

DRF owns `?format=`: registering these renderers on a view makes it accept those formats. A view
then streams rows through `stream_response`, so memory stays flat however many rows there are.
"""

import csv
import io
import json
import re
from collections.abc import Iterable, Iterator

from django.http import StreamingHttpResponse
from rest_framework.renderers import BaseRenderer

# A spreadsheet runs a cell starting with one of these as a formula (CSV injection).
_FORMULA_START = ("=", "+", "-", "@", "\t", "\r")
# ... but a plain number is no formula: "-0.10" stays a negative amount, not text.
_PLAIN_NUMBER = re.compile(r"-?[0-9]+(\.[0-9]+)?")


def csv_cell(value) -> str:
    """A value as a CSV cell: text as is, but a would-be formula neutralised with a leading
    quote (a plain number such as "-0.10" is left alone); numbers as numbers; structures as
    JSON (which starts with `[` or `{`)."""
    if value is None:
        return ""
    if isinstance(value, str):
        if value.startswith(_FORMULA_START) and not _PLAIN_NUMBER.fullmatch(value):
            return "'" + value
        return value
    return json.dumps(value, ensure_ascii=False)


class JSONLinesRenderer(BaseRenderer):
    media_type = "application/x-ndjson"
    format = "jsonl"
    charset = "utf-8"

    def render(self, data, accepted_media_type=None, renderer_context=None):
        return "".join(_jsonl_lines(_rows(data))).encode()


class CSVRenderer(BaseRenderer):
    media_type = "text/csv"
    format = "csv"
    charset = "utf-8"

    def render(self, data, accepted_media_type=None, renderer_context=None):
        rows = _rows(data)
        header = list(rows[0]) if rows else []
        return "".join(_csv_lines(header, rows)).encode()


def _rows(data) -> list[dict]:
    if isinstance(data, dict) and "results" in data:
        return data["results"]
    return data if isinstance(data, list) else [data]


def _jsonl_lines(rows: Iterable[dict]) -> Iterator[str]:
    for row in rows:
        yield json.dumps(row, ensure_ascii=False, default=str) + "\n"


def _csv_lines(header: list[str], rows: Iterable[dict]) -> Iterator[str]:
    buffer = io.StringIO()
    writer = csv.writer(buffer)
    writer.writerow(header)
    for row in rows:
        writer.writerow([csv_cell(row[name]) for name in header])
        yield buffer.getvalue()
        buffer.seek(0)
        buffer.truncate()
    yield buffer.getvalue()


EXPORT_RENDERERS = (JSONLinesRenderer, CSVRenderer)


def stream_response(
    renderer: BaseRenderer, header: list[str], rows: Iterable[dict], filename: str
) -> StreamingHttpResponse:
    """Streams rows in the renderer's format; `rows` should come from a queryset iterator."""
    lines = _csv_lines(header, rows) if renderer.format == "csv" else _jsonl_lines(rows)
    response = StreamingHttpResponse(
        (line.encode() for line in lines), content_type=f"{renderer.media_type}; charset=utf-8"
    )
    response["Content-Disposition"] = f'attachment; filename="{filename}.{renderer.format}"'
    return response
