"""OpenAI Files: upload (multipart), list, retrieve, content and delete, at /v1/files.

Files are kept in the database (simulator/state/batches.py: StoredFile, with retention),
read and written off the event loop. An upload is refused past LLMSIM_FILES_MAX_BYTES
(64 MiB by default; OpenAI takes 512 MB) before it is read whole. Purposes: batch
(a .jsonl file, the input of /v1/batches), assistants and user_data; a batch's output
and error files have the purpose batch_output. Shapes as in OpenAI's API reference
("Files", "The file object").
"""

from __future__ import annotations

import re
import time
from typing import Any

from django.conf import settings

from simulator.engine.ids import new_id
from simulator.providers.openai.errors import common_headers, openai_endpoint
from simulator.server.http import (
    JSON_CONTENT_TYPE,
    Call,
    ProviderError,
    compute,
    dump_json,
    query_param,
    quoted,
    read_body,
    send_bytes,
)
from simulator.state.batches import (
    StoredFile,
    UnknownCursor,
    delete_stored_file,
    file_page,
    find_file,
    off_loop,
    save,
)

UPLOAD_PURPOSES = ("batch", "assistants", "user_data")
# Room for the multipart framing (boundaries, part headers, the purpose field) around the file.
_FRAMING_BYTES = 64 * 1024
_BOUNDARY = re.compile(r'boundary="?([^";]+)"?', re.IGNORECASE)
_DISPOSITION_PARAM = re.compile(r'(\w+)="([^"]*)"')


def file_not_found(file_id: str) -> ProviderError:
    return ProviderError(404, f"No such File object: {quoted(file_id)[1:-1]}", "not_found", param="id")


def file_json(row: StoredFile) -> dict[str, Any]:
    """The file object."""
    return {
        "id": row.public_id,
        "object": "file",
        "bytes": row.bytes,
        "created_at": row.created_at,
        "filename": row.filename,
        "purpose": row.purpose,
        "status": "processed",
        "expires_at": None,
        "status_details": None,
    }


async def reply(call: Call, body: dict[str, Any]) -> None:
    await send_bytes(call, 200, dump_json(body), [JSON_CONTENT_TYPE, *common_headers(call)])


# --- multipart -------------------------------------------------------------------------------


def parse_multipart(content_type: str, body: bytes) -> dict[str, tuple[str | None, bytes]]:
    """The form's fields by name: (filename or None, value). 400 for a body that is not multipart."""
    match = _BOUNDARY.search(content_type)
    if not content_type.lower().startswith("multipart/form-data") or match is None:
        raise ProviderError(
            400, "The request must be multipart/form-data with a 'file' and a 'purpose' field.", param="file"
        )
    delimiter = b"--" + match.group(1).encode("latin-1")
    parts = body.split(delimiter)
    if len(parts) < 3 or not parts[-1].startswith(b"--"):
        raise ProviderError(400, "The multipart body is malformed: its closing boundary is missing.", param="file")
    fields: dict[str, tuple[str | None, bytes]] = {}
    for part in parts[1:-1]:
        head, separator, value = part.removeprefix(b"\r\n").partition(b"\r\n\r\n")
        if not separator or not value.endswith(b"\r\n"):
            raise ProviderError(400, "The multipart body is malformed: a part has no headers or no end.", param="file")
        disposition = ""
        for line in head.decode("latin-1").split("\r\n"):
            name, _, text = line.partition(":")
            if name.strip().lower() == "content-disposition":
                disposition = text
        params = dict(_DISPOSITION_PARAM.findall(disposition))
        if "name" in params:
            filename = params.get("filename")
            fields[params["name"]] = (
                filename.encode("latin-1").decode("utf-8", "replace") if filename else None,
                value[:-2],
            )
    return fields


# --- routes ----------------------------------------------------------------------------------


@openai_endpoint
async def upload_file(call: Call) -> None:
    limit = settings.LLMSIM_FILES_MAX_BYTES
    raw = await read_body(call, limit + _FRAMING_BYTES)
    fields = await compute(call, parse_multipart, call.headers.get("content-type", ""), raw)
    purpose = fields.get("purpose", (None, b""))[1].decode("utf-8", "replace")
    if not purpose:
        raise ProviderError(
            400, "Missing required parameter: 'purpose'.", param="purpose", code="missing_required_parameter"
        )
    if purpose not in UPLOAD_PURPOSES:
        raise ProviderError(
            400,
            f"Invalid value for 'purpose': {quoted(purpose)}. LLMSim supports: {', '.join(UPLOAD_PURPOSES)}.",
            param="purpose",
            code="invalid_value",
        )
    filename, content = fields.get("file", (None, b""))
    if filename is None:
        raise ProviderError(400, "Missing required parameter: 'file'.", param="file", code="missing_required_parameter")
    if len(content) > limit:
        raise ProviderError(413, f"File too large: {len(content)} bytes; the limit is {limit} bytes.", "too_large")
    if purpose == "batch" and not filename.lower().endswith(".jsonl"):
        raise ProviderError(400, "Invalid file format for Batch API. Must be .jsonl", param="file")
    row = StoredFile(
        public_id=new_id("file-", 96),
        created_at=int(time.time()),
        filename=filename[:255],
        purpose=purpose,
        bytes=len(content),
        content=content,
    )
    await reply(call, file_json(await off_loop(save, row)))


def page_limit(call: Call, default: int, most: int) -> int:
    """?limit= (1 to `most`, `default` when absent), as OpenAI's lists read it."""
    raw = query_param(call, "limit")
    if raw is None:
        return default
    if not raw.isdigit() or not 1 <= int(raw) <= most:
        raise ProviderError(
            400,
            f"Invalid 'limit': expected an integer from 1 to {most}, but got {quoted(raw)} instead.",
            param="limit",
            code="invalid_value",
        )
    return int(raw)


@openai_endpoint
async def list_files(call: Call) -> None:
    limit = page_limit(call, 10_000, 10_000)
    order = query_param(call, "order") or "desc"
    if order not in ("asc", "desc"):
        raise ProviderError(
            400, f"Invalid value: {quoted(order)}. Supported values are: 'asc' and 'desc'.", param="order"
        )
    after = query_param(call, "after")
    try:
        rows, has_more = await off_loop(file_page, query_param(call, "purpose"), after, limit, order == "desc")
    except UnknownCursor:
        raise ProviderError(400, f"Invalid 'after': no file with id {quoted(after)}.", param="after") from None
    await reply(call, list_json([file_json(row) for row in rows], has_more))


def list_json(data: list[dict[str, Any]], has_more: bool) -> dict[str, Any]:
    """OpenAI's cursor list: {"object": "list", "data", "first_id", "last_id", "has_more"}."""
    return {
        "object": "list",
        "data": data,
        "first_id": data[0]["id"] if data else None,
        "last_id": data[-1]["id"] if data else None,
        "has_more": has_more,
    }


def _existing(file_id: str, with_content: bool = False) -> StoredFile:
    row = find_file(file_id, with_content)
    if row is None:
        raise file_not_found(file_id)
    return row


def get_file(file_id: str) -> StoredFile:
    """The file `file_id` with its content, or 404 (off the event loop)."""
    return _existing(file_id, True)


@openai_endpoint
async def retrieve_file(call: Call) -> None:
    await reply(call, file_json(await off_loop(_existing, call.path_params["file_id"])))


@openai_endpoint
async def file_content(call: Call) -> None:
    row = await off_loop(get_file, call.path_params["file_id"])
    headers = [(b"content-type", b"application/octet-stream"), *common_headers(call)]
    await send_bytes(call, 200, bytes(row.content), headers)


@openai_endpoint
async def delete_file(call: Call) -> None:
    file_id = call.path_params["file_id"]
    if not await off_loop(delete_stored_file, file_id):
        raise file_not_found(file_id)
    await reply(call, {"id": file_id, "object": "file", "deleted": True})
