"""Ingest keys: created and revoked from the CLI while a server holds the warehouse, stored hashed."""
import json

from app import create_app
from data import keys
from data.warehouse import Warehouse


def test_cli_create_list_revoke_against_a_running_app(tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("PULSE_INGEST_KEYS", "")
    wh = Warehouse(f"duckdb:///{tmp_path / 'pulse.duckdb'}")
    client = create_app(wh, data_dir=tmp_path).server.test_client()

    def post(token):
        return client.post("/api/v1/events", data="[]", headers={"Authorization": f"Bearer {token}",
                                                                 "Content-Type": "application/json"}).status_code

    assert keys.main(["--data-dir", str(tmp_path), "create", "--name", "shop"]) == 0
    token = capsys.readouterr().out.strip().splitlines()[-1]
    assert post(token) == 200          # authenticated (an empty batch inserts nothing)
    stored = (tmp_path / keys.KEYS_FILE).read_text()
    assert token not in stored and keys._hash(token) in stored  # only the hash is kept
    key_id = json.loads(stored)["keys"][0]["id"]
    assert keys.main(["--data-dir", str(tmp_path), "list"]) == 0
    assert key_id in capsys.readouterr().out
    assert keys.main(["--data-dir", str(tmp_path), "revoke", key_id]) == 0
    assert post(token) == 401          # the server re-reads the file: revoked at once
    assert keys.main(["--data-dir", str(tmp_path), "revoke", key_id]) == 1
    from data.audit import AuditLog
    assert [(e["action"], e["target"]) for e in AuditLog(tmp_path).recent(2)] == [("key.revoke", key_id),
                                                                                   ("key.create", key_id)]
    wh.dispose()


def test_a_key_is_generated_only_when_none_is_configured(tmp_path, monkeypatch):
    monkeypatch.setenv("PULSE_INGEST_KEYS", "")
    store = keys.KeyStore(tmp_path)
    token = store.ensure_one()
    assert token and store.verify(token)
    assert (tmp_path / keys.GENERATED_KEY_FILE).read_text().strip() == token
    assert oct((tmp_path / keys.GENERATED_KEY_FILE).stat().st_mode & 0o777) == "0o600"
    assert keys.KeyStore(tmp_path).ensure_one() is None                     # one exists now
    assert keys.KeyStore(tmp_path / "other", env_keys="from-env").ensure_one() is None
