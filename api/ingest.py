"""POST /api/v1/events and /api/v1/spend: data in, acknowledged only once committed.

Checks, in order, each with its own status: the API key (401), the content type (415), the size
(413: over MAX_BODY_BYTES or MAX_ROWS), the rows (422, with every problem as {row, field, value,
problem}). A rejected batch writes nothing. On success, 200 with counts of inserted and duplicate rows.
"""
from __future__ import annotations

import json
import time
from datetime import datetime, timezone

from flask import current_app, jsonify, request
from werkzeug.exceptions import RequestEntityTooLarge

from api import blueprint
from data.validation import BatchRejected, Context, RowProblem, parse_ndjson, validate_events, validate_spend
from data.warehouse import current
from data.writer import WriterStopped
from queries.channels import channel_list

MAX_BODY_BYTES = 5 * 1024 * 1024
MAX_ROWS = 10_000
WRITE_TIMEOUT_SECONDS = 30
JSON_TYPES = {"application/json"}
NDJSON_TYPES = {"application/x-ndjson", "application/ndjson", "application/jsonl", "application/x-jsonlines"}
_CHANNELS_TTL = 60.0


@blueprint.post("/events")
def ingest_events():
    return _ingest("events", validate_events)


@blueprint.post("/spend")
def ingest_spend():
    return _ingest("spend", validate_spend)


def _ingest(kind: str, validate):
    if request_key() is None:
        return unauthorized()
    if request.mimetype not in JSON_TYPES | NDJSON_TYPES:
        return error_response(415, f"Content-Type {request.mimetype or '(none)'!r} is not accepted: send "
                           "application/json (an array of rows) or application/x-ndjson (a row per line)")
    request.max_content_length = MAX_BODY_BYTES
    try:
        body = request.get_data(as_text=True)
    except RequestEntityTooLarge:
        return error_response(413, f"the body is over {MAX_BODY_BYTES // (1024 * 1024)} MB: split it into batches")
    try:
        rows = _rows(body)
        if isinstance(rows, list) and len(rows) > MAX_ROWS:
            return error_response(413, f"{len(rows)} rows in one batch; at most {MAX_ROWS}")
        frame = validate(rows, validation_context())
    except BatchRejected as rejected:
        return error_response(422, f"the batch was rejected, nothing was written: {len(rejected.problems)} problem(s)",
                      problems=[p.as_dict() for p in rejected.problems])
    try:
        result = current_app.extensions["pulse.writer"].write(kind, frame, timeout=WRITE_TIMEOUT_SECONDS)
    except BatchRejected as rejected:  # found only against stored data, inside the writer's transaction
        return error_response(422, f"the batch was rejected, nothing was written: {len(rejected.problems)} problem(s)",
                      problems=[p.as_dict() for p in rejected.problems])
    except (WriterStopped, TimeoutError) as error:
        return error_response(503, f"the warehouse could not commit the batch ({error}); nothing is acknowledged, retry",
                      headers={"Retry-After": "5"})
    body = {"inserted": result.inserted, "duplicates": result.duplicates}
    if kind == "spend":
        body = {"inserted": result.inserted, "updated": result.updated}
    return jsonify({"status": "ok", "rows": len(frame), **body})


def _rows(body: str):
    if request.mimetype in NDJSON_TYPES:
        return parse_ndjson(body)
    try:
        return json.loads(body)
    except json.JSONDecodeError as error:
        raise BatchRejected([RowProblem(None, None, body[:200], f"the body is not JSON: {error.msg} "
                                                                 f"at line {error.lineno} column {error.colno}")])


def request_key() -> str | None:
    """The id of the ingest key the request carries, or None when it carries no valid one."""
    return current_app.extensions["pulse.keys"].verify(_bearer_token())


def unauthorized():
    return error_response(401, "missing or invalid API key: send Authorization: Bearer KEY",
                          headers={"WWW-Authenticate": 'Bearer realm="pulse-ingest"'})


def _bearer_token() -> str | None:
    header = request.headers.get("Authorization", "")
    scheme, _, token = header.partition(" ")
    return token.strip() if scheme.lower() == "bearer" else None


def validation_context() -> Context:
    """Validation context; the channel list is re-read at most once a minute."""
    cache = current_app.extensions.setdefault("pulse.ingest_channels", {})
    cached = cache.get("value")
    if cached is None or time.monotonic() - cache["at"] > _CHANNELS_TTL:
        channels = channel_list(current())
        cached = (frozenset(channels.name), frozenset(channels.name[channels.paid]))
        cache.update(value=cached, at=time.monotonic())
    return Context(now=datetime.now(timezone.utc), channels=cached[0], paid_channels=cached[1])


def error_response(status: int, message: str, headers: dict | None = None, **extra):
    response = jsonify({"status": "error", "error": message, **extra})
    response.status_code = status
    for name, value in (headers or {}).items():
        response.headers[name] = value
    return response
