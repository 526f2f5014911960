"""Encoded responses: JSON or CSV bytes, encoded once, gzipped once, served many times.

Large cached results (a 10,000-point embedding) would otherwise be rebuilt, validated
and serialised on every request, which costs more than everything else the server does
for them.
"""

import csv
import gzip
import io
from dataclasses import dataclass

from fastapi import Request
from fastapi.responses import Response
from pydantic import BaseModel


@dataclass(frozen=True)
class Encoded:
    body: bytes
    gzipped: bytes
    media_type: str
    filename: str | None = None


def encode_json(model: BaseModel) -> Encoded:
    body = model.model_dump_json().encode()
    return Encoded(body, gzip.compress(body, compresslevel=6), "application/json")


def encode_csv(columns: dict[str, list], filename: str) -> Encoded:
    out = io.StringIO()
    writer = csv.writer(out)
    writer.writerow(columns)
    writer.writerows(zip(*columns.values(), strict=True))
    body = out.getvalue().encode()
    return Encoded(body, gzip.compress(body, compresslevel=6), "text/csv", filename)


def respond(encoded: Encoded, request: Request) -> Response:
    headers = {"Vary": "Accept-Encoding"}
    if encoded.filename:
        headers["Content-Disposition"] = f'attachment; filename="{encoded.filename}"'
    body = encoded.body
    if "gzip" in request.headers.get("accept-encoding", ""):
        body = encoded.gzipped
        headers["Content-Encoding"] = "gzip"
    return Response(body, media_type=encoded.media_type, headers=headers)
