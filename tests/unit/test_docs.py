"""Documentation a test keeps complete: every warehouse column is described in docs/warehouse.md, and every
setting of the server (command-line option or environment variable) in the README's configuration table."""
import re
from pathlib import Path

import duckdb

import app
from data import schema

ROOT = Path(__file__).resolve().parents[2]
DOCS = ROOT / "docs"
# The server's own code, where settings are read (tests and benchmarks have settings of their own).
SERVER_CODE = ("app.py", "api", "analytics", "components", "data", "pages", "queries")


def documented_columns() -> dict[str, set[str]]:
    table, found = None, {}
    for line in (DOCS / "warehouse.md").read_text().splitlines():
        heading = re.match(r"^###\s+`(\w+)`", line)
        if heading:
            table = heading.group(1)
            found[table] = set()
        cell = re.match(r"^\|\s*`(\w+)`\s*\|", line)
        if table and cell:
            found[table].add(cell.group(1))
    return found


def test_every_table_and_column_is_documented(tmp_path):
    conn = duckdb.connect(str(tmp_path / "w.duckdb"))
    schema.create_all(conn)
    docs = documented_columns()
    for table in schema.TABLES:
        columns = {r[0] for r in conn.execute(
            "SELECT column_name FROM information_schema.columns WHERE table_name = ?", [table]).fetchall()}
        assert table in docs, f"docs/warehouse.md has no section for {table}"
        assert columns - docs[table] == set(), f"undocumented columns of {table}"
        assert docs[table] - columns == set(), f"docs/warehouse.md describes columns {table} does not have"


def readme_settings() -> str:
    readme = (ROOT / "README.md").read_text()
    return readme[readme.index("## Configuration"):readme.index("\n## ", readme.index("## Configuration") + 1)]


def environment_variables() -> set[str]:
    """Every name read from the environment: `os.environ.get("X"`, `os.environ["X"]`, a module constant
    `..._ENV = "X"` handed to them, or `_flag("X")`."""
    found = set()
    for folder in SERVER_CODE:
        for path in [ROOT / folder] if folder.endswith(".py") else (ROOT / folder).rglob("*.py"):
            text = path.read_text()
            found |= set(re.findall(r'os\.environ(?:\.get\(|\[)"([A-Z_]+)"', text))
            found |= set(re.findall(r'^\w*_ENV\s*=\s*"([A-Z_]+)"', text, flags=re.M))
            found |= {name for name in re.findall(r'_flag\("([A-Z_]+)"', text)}
    return found


def test_every_setting_of_the_server_is_in_the_readme():
    table = readme_settings()
    variables = environment_variables()
    assert {"PULSE_DATA_DIR", "PULSE_CACHE_MB", "WAREHOUSE_URL"} <= variables  # the scan finds them
    assert {v for v in variables if f"`${v}`" not in table} == set()
    options = {o for action in app.build_parser()._actions for o in action.option_strings if o.startswith("--")}
    assert {"--port", "--live-rate"} <= options
    assert {o for o in options - {"--help"} if f"`{o}`" not in table} == set()
