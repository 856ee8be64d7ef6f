"""Staged imports: a bulk import through the running server, which owns the DuckDB file.

    POST   /api/v1/imports              {"kind": "events"|"spend"|"mmm", mmm: name, date, outcome, spend, controls}
                                        -> 201 {"id"}
    POST   /api/v1/imports/<id>/rows    a JSON array of at most MAX_ROWS rows, validated on arrival
                                        -> 200 {"rows", "staged"} | 422 {"problems"} (rows 0-based in the batch)
    POST   /api/v1/imports/<id>/commit  -> 200 {"result": counts} after ONE writer transaction
                                        | 422 {"problems"} (rows counted from the import's first row)
    DELETE /api/v1/imports/<id>         -> 200, the stage is gone

`python -m data.load` is the client (docs/import.md). Every endpoint needs an ingest key, as ingest does;
a stage belongs to the key that started it. Validated batches are staged as Parquet files under
`<data_dir>/imports/<id>/`, so the server's memory stays bounded while a large file arrives; the commit
reads them back and writes them in one transaction, or nothing. A stage without activity for
STAGE_TTL_SECONDS is deleted (checked whenever an import starts). A rejected batch is not staged.
"""
from __future__ import annotations

import json
import os
import re
import secrets
import shutil
import threading
import time
from pathlib import Path

import pandas as pd
from flask import current_app, jsonify, request
from werkzeug.exceptions import RequestEntityTooLarge

from api import blueprint
from api.ingest import MAX_ROWS, error_response, request_key, unauthorized, validation_context
from data.load import KINDS, MmmSpec, finish_import, validate_batch
from data.validation import BatchRejected, RowProblem
from data.writer import WriterStopped

STAGE_TTL_SECONDS = 3600
MAX_BATCH_BYTES = 64 * 1024 * 1024
META_FILE = "meta.json"
_ID = re.compile(r"^[0-9a-f]{16}$")
_lock = threading.Lock()  # serializes changes of a stage's meta file


@blueprint.post("/imports")
def start_import():
    key = request_key()
    if key is None:
        return unauthorized()
    body = request.get_json(silent=True)
    if not isinstance(body, dict) or body.get("kind") not in KINDS:
        return error_response(422, f"send a JSON object with kind one of {', '.join(KINDS)}")
    meta = {"kind": body["kind"], "key": key, "rows": 0, "batches": 0, "started": time.time()}
    if body["kind"] == "mmm":
        spec, problems = _spec(body)
        if problems:
            return _rejected(problems)
        meta["spec"] = spec.as_dict()
    _expire(_root())
    import_id = secrets.token_hex(8)
    stage = _root() / import_id
    stage.mkdir(parents=True)
    _save_meta(stage, meta)
    response = jsonify({"status": "ok", "id": import_id, "expires_after_seconds": STAGE_TTL_SECONDS})
    response.status_code = 201
    return response


@blueprint.post("/imports/<import_id>/rows")
def stage_rows(import_id: str):
    stage, meta, failure = _open(import_id)
    if failure:
        return failure
    request.max_content_length = MAX_BATCH_BYTES
    try:
        rows = json.loads(request.get_data(as_text=True))
    except RequestEntityTooLarge:
        return error_response(413, f"the batch is over {MAX_BATCH_BYTES // (1024 * 1024)} MB: send smaller batches")
    except ValueError as error:
        return error_response(422, f"the body is not JSON: {error}")
    if isinstance(rows, list) and len(rows) > MAX_ROWS:
        return error_response(413, f"{len(rows)} rows in one batch; at most {MAX_ROWS}")
    if not isinstance(rows, list):
        return _rejected([RowProblem(None, None, type(rows).__name__, "the body must be a JSON array of rows")])
    try:
        frame = validate_batch(meta["kind"], rows, validation_context(), _spec_of(meta))
    except BatchRejected as rejected:
        return _rejected(rejected.problems)
    with _lock:
        meta = _load_meta(stage)
        frame["_row"] += meta["rows"]
        frame.to_parquet(stage / f"batch-{meta['batches'] + 1:06d}.parquet", index=False)
        meta.update(rows=meta["rows"] + len(rows), batches=meta["batches"] + 1)
        _save_meta(stage, meta)
    return jsonify({"status": "ok", "rows": len(rows), "staged": meta["rows"]})


@blueprint.post("/imports/<import_id>/commit")
def commit_import(import_id: str):
    stage, meta, failure = _open(import_id)
    if failure:
        return failure
    claimed = stage.with_name(f"{import_id}.committing")
    try:
        os.rename(stage, claimed)  # one commit per stage, however many requests ask
    except OSError:
        return error_response(409, f"import {import_id} is already being committed")
    try:
        frame = _staged(claimed)
        result = finish_import(current_app.extensions["pulse.writer"], meta["kind"], frame, _spec_of(meta))
    except BatchRejected as rejected:
        return _rejected(rejected.problems, "the import was rejected, nothing was written")
    except WriterStopped as error:
        return error_response(503, f"the warehouse could not commit the import ({error}); nothing was written")
    finally:
        shutil.rmtree(claimed, ignore_errors=True)
    return jsonify({"status": "ok", "kind": meta["kind"], "result": result})


@blueprint.delete("/imports/<import_id>")
def abort_import(import_id: str):
    stage, _, failure = _open(import_id)
    if failure:
        return failure
    shutil.rmtree(stage, ignore_errors=True)
    return jsonify({"status": "ok", "deleted": import_id})


# -- helpers ---------------------------------------------------------------------------------------
def _rejected(problems: list[RowProblem], message: str = "the batch was rejected, nothing was staged"):
    return error_response(422, f"{message}: {len(problems)} problem(s)", problems=[p.as_dict() for p in problems])


def _spec(body: dict) -> tuple[MmmSpec | None, list[RowProblem]]:
    try:
        spec = MmmSpec.from_dict(body)
    except (KeyError, TypeError) as error:
        return None, [RowProblem(None, None, None, f"an mmm import needs name, date, outcome, spend (a list) "
                                                   f"and optionally controls (a list): {error}")]
    return spec, spec.problems()


def _spec_of(meta: dict) -> MmmSpec | None:
    return MmmSpec.from_dict(meta["spec"]) if "spec" in meta else None


def _root() -> Path:
    """`<data_dir>/imports`: beside the ingest keys, in the server's data directory."""
    return current_app.extensions["pulse.keys"].path.parent / "imports"


def _open(import_id: str):
    """(stage directory, meta, None) of the caller's live stage, or (None, None, error response)."""
    if request_key() is None:
        return None, None, unauthorized()
    stage = _root() / import_id
    if not _ID.match(import_id) or not (stage / META_FILE).is_file():
        return None, None, error_response(404, f"no import {import_id!r} (finished, aborted or expired)")
    meta = _load_meta(stage)
    if meta["key"] != request_key():
        return None, None, error_response(404, f"no import {import_id!r} (finished, aborted or expired)")
    if _expired(stage):
        shutil.rmtree(stage, ignore_errors=True)
        return None, None, error_response(404, f"import {import_id!r} expired after {STAGE_TTL_SECONDS} s without activity")
    return stage, meta, None


def _staged(stage: Path) -> pd.DataFrame:
    batches = sorted(stage.glob("batch-*.parquet"))
    if not batches:
        return pd.DataFrame({"_row": [], "period": [], "ts": [], "channel": [], "campaign": [], "event_id": []})
    return pd.concat([pd.read_parquet(b) for b in batches], ignore_index=True)


def _expired(stage: Path) -> bool:
    return time.time() - stage.stat().st_mtime > STAGE_TTL_SECONDS


def _expire(root: Path) -> None:
    if not root.is_dir():
        return
    for stage in root.iterdir():
        if stage.is_dir() and _expired(stage):
            shutil.rmtree(stage, ignore_errors=True)


def _load_meta(stage: Path) -> dict:
    return json.loads((stage / META_FILE).read_text())


def _save_meta(stage: Path, meta: dict) -> None:
    tmp = stage / (META_FILE + ".tmp")
    tmp.write_text(json.dumps(meta))
    os.replace(tmp, stage / META_FILE)  # also marks the stage as active (directory mtime)
