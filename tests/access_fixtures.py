"""A secured Pulse for the access tests: its own small warehouse and data directory, one user per role, a
display token and an ingest key, and a logged-in Flask test client for each identity."""
from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import datetime

from app import create_app
from data.generate import generate
from data.keys import KeyStore
from data.schema import TABLES
from data.users import TokenStore, UserStore
from data.warehouse import Warehouse

PASSWORD = "a long enough password"
ROLES = ("viewer", "analyst", "admin")
IDENTITIES = ("anonymous", "display", "viewer", "analyst", "admin", "ingest")


@dataclass
class Secured:
    app: object
    warehouse: Warehouse
    data_dir: object
    token: str
    token_id: str
    ingest_key: str
    clients: dict
    values: dict

    def client(self, who: str):
        return self.clients[who]


def make_warehouse(tmp_path) -> Warehouse:
    wh = Warehouse(f"duckdb:///{tmp_path / 'pulse.duckdb'}")
    generate(wh, days=7, scale=0.1, seed=3, end=datetime(2026, 11, 20, 14, 37))
    return wh


def secure(warehouse: Warehouse, data_dir, views=("wall",)) -> Secured:
    users = UserStore(data_dir)
    for role in ROLES:
        users.create(role, role, PASSWORD, actor="test")
    token_id, token = TokenStore(data_dir).create("lobby-tv", list(views), actor="test")
    _, ingest_key = KeyStore(data_dir, env_keys="").create("test")
    app = create_app(warehouse, data_dir=data_dir)
    values = initial_values(app)
    clients = {}
    for who in IDENTITIES:
        client = app.server.test_client()
        if who in ROLES:
            answer = client.post("/login", data={"name": who, "password": PASSWORD, "next": "/"})
            assert answer.status_code == 303, answer.data
        elif who == "display":
            answer = client.get(f"/wall?kiosk=1&token={token}")
            assert answer.status_code == 303 and "token" not in answer.headers["Location"]
        elif who == "ingest":
            client.environ_base["HTTP_AUTHORIZATION"] = f"Bearer {ingest_key}"
        clients[who] = client
    return Secured(app, warehouse, data_dir, token, token_id, ingest_key, clients, values)


def initial_values(app) -> dict:
    """{"id.property": value} of every component of the shell and of every view as first drawn: what the
    browser would send in a callback's inputs and state."""
    import dash
    from dash.development.base_component import Component

    values = {}
    with app.server.test_request_context("/"):
        trees = [app.layout] + [page["layout"]() if callable(page["layout"]) else page["layout"]
                                for page in dash.page_registry.values()]
    for tree in trees:
        for component in [tree, *tree._traverse()] if isinstance(tree, Component) else []:
            ident = getattr(component, "id", None)
            if not isinstance(ident, str):
                continue
            for prop in component._prop_names:
                if prop != "children" and getattr(component, prop, None) is not None:
                    values[f"{ident}.{prop}"] = getattr(component, prop)
    values.update({"url.pathname": "/wall", "url.search": "", "_pages_location.pathname": "/wall",
                   "_pages_location.search": ""})
    return values


def table_counts(warehouse: Warehouse) -> dict[str, int]:
    return {table: warehouse.row_count(table) for table in TABLES}


def dependencies(secured: Secured) -> list[dict]:
    """The server-side callbacks, as the browser learns them from /_dash-dependencies."""
    deps = json.loads(secured.client("admin").get("/_dash-dependencies").data)
    server_side = {key for key, entry in secured.app.callback_map.items() if entry.get("callback")}
    return [dep for dep in deps if dep["output"] in server_side]


def _split(spec: str) -> tuple[str, str]:
    if spec.startswith("{"):
        end = spec.rindex("}") + 1
        return spec[:end], spec[end + 1:]
    ident, prop = spec.rsplit(".", 1)
    return ident, prop


def callback_payload(dep: dict, values: dict | None = None) -> dict:
    """A request body as the Dash renderer sends it for `dep`: every input and state None (or `values`,
    by "id.property"), the first input as the one that changed."""
    values = values or {}

    def item(d):
        if d["id"].startswith("{"):
            return []  # a pattern-matching dependency with no component on the page
        return {"id": d["id"], "property": d["property"], "value": values.get(f"{d['id']}.{d['property']}")}

    output = dep["output"]
    if output.startswith(".."):
        outputs = []
        for part in output[2:-2].split("..."):
            ident, prop = _split(part)
            outputs.append({"id": ident, "property": prop})
    else:
        ident, prop = _split(output)
        outputs = {"id": ident, "property": prop}
    inputs = [item(d) for d in dep["inputs"]]
    first = next((d for d in dep["inputs"] if not d["id"].startswith("{")), None)
    return {"output": output, "outputs": outputs, "inputs": inputs, "state": [item(d) for d in dep["state"]],
            "changedPropIds": [f"{first['id']}.{first['property']}"] if first else []}
