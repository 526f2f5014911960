"""Reading an uploaded file from a multipart body, off the event loop.

FastAPI's ``File`` parameter parses the form on the event loop; under many concurrent
uploads that loop is the busiest thread of the server, so the route endpoint reads the
raw body there and parses it in a worker thread instead.
"""

import io

from fastapi import Request
from python_multipart import parse_form
from python_multipart.exceptions import FormParserError

from backend.errors import InvalidInput, TooLarge

FIELD = "file"
FORCE_FIELD = "force_path"
OPENAPI_BODY = {
    "requestBody": {
        "required": True,
        "content": {
            "multipart/form-data": {
                "schema": {
                    "type": "object",
                    "required": [FIELD],
                    "properties": {
                        FIELD: {
                            "type": "string",
                            "format": "binary",
                            "description": "an image: PNG, JPEG, GIF, BMP, TIFF or WebP",
                        },
                        FORCE_FIELD: {
                            "type": "string",
                            "pattern": "^[01]+$",
                            "description": "route through this path instead of the gates' "
                            "choice: one character per gated block, input side first, "
                            "1 = execute",
                        },
                    },
                }
            }
        },
    }
}


async def read_body(request: Request, limit: int) -> bytes:
    """The request body, refused with 413 as soon as it passes ``limit`` bytes."""
    chunks, size = [], 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > limit:
            raise TooLarge(f"the upload is larger than {limit - MULTIPART_SLACK:,} bytes")
        chunks.append(chunk)
    return b"".join(chunks)


MULTIPART_SLACK = 64 * 1024  # boundaries and part headers around the file


def form_from_multipart(content_type: str, body: bytes) -> tuple[bytes, dict[str, str]]:
    """The bytes of the form's ``file`` field and its other fields as text; 422 when the
    body holds no file."""
    if not content_type.startswith("multipart/form-data"):
        raise InvalidInput(f"send the image as multipart/form-data field '{FIELD}'")
    found: list[bytes] = []
    fields: dict[str, str] = {}

    def on_field(field) -> None:
        try:
            fields[field.field_name.decode()] = (field.value or b"").decode()
        except UnicodeDecodeError:
            raise InvalidInput("form fields must be UTF-8 text") from None

    def on_file(file) -> None:
        if file.field_name == FIELD.encode():
            file.file_object.seek(0)
            found.append(file.file_object.read())

    headers = {"Content-Type": content_type.encode(), "Content-Length": str(len(body)).encode()}
    try:
        parse_form(headers, io.BytesIO(body), on_field, on_file)
    except (FormParserError, ValueError) as error:
        raise InvalidInput(f"malformed multipart body: {error}") from None
    if not found:
        raise InvalidInput(f"the form has no '{FIELD}' field with a file")
    return found[0], fields
