"""The warehouse schema: one table per fact, documented column by column in docs/warehouse.md.

Timestamps are stored as TIMESTAMP without zone and always mean UTC (see DESIGN.md, "Time is stored in
UTC"). Types are kept to the portable core (VARCHAR, DOUBLE, BIGINT, BOOLEAN, DATE, TIMESTAMP) so the same
DDL runs on another SQL warehouse with little change.
"""
import re


# The event types Pulse understands, in funnel order for the default purchase funnel.
EVENT_TYPES = ("page_view", "product_view", "add_to_cart", "checkout", "purchase", "signup")
DEVICES = ("desktop", "mobile", "tablet")

# Stored instead of NULL when an event has no campaign, as GA4 stores "(not set)": a filter and a
# group-by then treat "no campaign" as a value like any other.
NO_CAMPAIGN = "(none)"

# The channels every warehouse knows (name, label, paid, sort order); ingest derives traffic into these.
REFERENCE_CHANNELS = (
    ("direct", "Direct", False, 1),
    ("organic_search", "Organic search", False, 2),
    ("organic_social", "Organic social", False, 3),
    ("referral", "Referral", False, 4),
    ("email", "Email", False, 5),
    ("paid_search", "Paid search", True, 6),
    ("paid_social", "Paid social", True, 7),
    ("display", "Display", True, 8),
    ("affiliate", "Affiliate", True, 9),
    ("video", "Video", True, 10),
    ("unassigned", "Unassigned", False, 99),
)

# The event counts kept per session and per hour, in this order (data/rollups.py fills them by position).
EVENT_COUNT_COLUMNS = ("events", "page_views", "product_views", "add_to_carts", "checkouts", "purchases", "signups",
                       "orders", "revenue")
_EVENT_COUNTS_DDL = ", ".join(f"{c} {'DOUBLE' if c == 'revenue' else 'BIGINT'} NOT NULL" for c in EVENT_COUNT_COLUMNS)

TABLES = {
    "channels": """
        CREATE TABLE IF NOT EXISTS channels (
            name        VARCHAR PRIMARY KEY,
            label       VARCHAR NOT NULL,
            paid        BOOLEAN NOT NULL,
            sort_order  INTEGER NOT NULL
        )""",
    "campaigns": """
        CREATE TABLE IF NOT EXISTS campaigns (
            name          VARCHAR PRIMARY KEY,
            channel       VARCHAR NOT NULL,
            start_date    DATE,
            end_date      DATE,
            daily_budget  DOUBLE
        )""",
    "events": """
        CREATE TABLE IF NOT EXISTS events (
            event_id    VARCHAR PRIMARY KEY,
            ts          TIMESTAMP NOT NULL,
            type        VARCHAR NOT NULL,
            user_id     VARCHAR NOT NULL,
            session_id  VARCHAR NOT NULL,
            channel     VARCHAR NOT NULL,
            campaign    VARCHAR NOT NULL,
            device      VARCHAR NOT NULL,
            region      VARCHAR NOT NULL,
            page        VARCHAR,
            revenue     DOUBLE,
            order_id    VARCHAR,
            experiment  VARCHAR,
            variant     VARCHAR
        )""",
    "ad_spend": """
        CREATE TABLE IF NOT EXISTS ad_spend (
            ts           TIMESTAMP NOT NULL,
            channel      VARCHAR NOT NULL,
            campaign     VARCHAR NOT NULL,
            impressions  BIGINT NOT NULL,
            clicks       BIGINT NOT NULL,
            cost         DOUBLE NOT NULL,
            PRIMARY KEY (ts, channel, campaign)
        )""",
    "budgets": """
        CREATE TABLE IF NOT EXISTS budgets (
            month    DATE NOT NULL,
            channel  VARCHAR NOT NULL,
            planned  DOUBLE NOT NULL,
            PRIMARY KEY (month, channel)
        )""",
    # Business targets per month: revenue and orders (the month's totals), conversion rate and ROAS (rates).
    "targets": """
        CREATE TABLE IF NOT EXISTS targets (
            month   DATE NOT NULL,
            kpi     VARCHAR NOT NULL,
            target  DOUBLE NOT NULL,
            PRIMARY KEY (month, kpi)
        )""",
    "experiments": """
        CREATE TABLE IF NOT EXISTS experiments (
            name         VARCHAR PRIMARY KEY,
            description  VARCHAR,
            control      VARCHAR NOT NULL,
            start_ts     TIMESTAMP NOT NULL,
            end_ts       TIMESTAMP
        )""",
    "experiment_variants": """
        CREATE TABLE IF NOT EXISTS experiment_variants (
            experiment  VARCHAR NOT NULL,
            variant     VARCHAR NOT NULL,
            weight      DOUBLE NOT NULL,
            PRIMARY KEY (experiment, variant)
        )""",
    "annotations": """
        CREATE TABLE IF NOT EXISTS annotations (
            id       BIGINT PRIMARY KEY DEFAULT nextval('annotations_id_seq'),
            ts       TIMESTAMP NOT NULL,
            ts_end   TIMESTAMP,
            kind     VARCHAR NOT NULL,
            text     VARCHAR NOT NULL,
            region   VARCHAR,
            channel  VARCHAR,
            source   VARCHAR NOT NULL DEFAULT 'user'
        )""",
    # ---- alerting: rules edited in the app, their evaluation state, history and webhook deliveries ----
    "alert_rules": """
        CREATE TABLE IF NOT EXISTS alert_rules (
            id               BIGINT PRIMARY KEY DEFAULT nextval('alert_rules_id_seq'),
            name             VARCHAR NOT NULL,
            kpi              VARCHAR NOT NULL,
            kind             VARCHAR NOT NULL,
            filters          VARCHAR NOT NULL DEFAULT '',
            window_minutes   INTEGER NOT NULL,
            operator         VARCHAR NOT NULL,
            value            DOUBLE NOT NULL,
            weeks            INTEGER NOT NULL,
            method           VARCHAR NOT NULL,
            direction        VARCHAR NOT NULL,
            tolerance        DOUBLE NOT NULL,
            pending_minutes  INTEGER NOT NULL,
            enabled          BOOLEAN NOT NULL,
            created          TIMESTAMP NOT NULL,
            updated          TIMESTAMP NOT NULL
        )""",
    "alert_states": """
        CREATE TABLE IF NOT EXISTS alert_states (
            rule_id         BIGINT PRIMARY KEY,
            rule_name       VARCHAR NOT NULL,
            state           VARCHAR NOT NULL,
            since           TIMESTAMP,
            last_evaluated  TIMESTAMP NOT NULL,
            observed        DOUBLE,
            expected        DOUBLE,
            message         VARCHAR NOT NULL,
            event_id        BIGINT,
            annotation_id   BIGINT
        )""",
    "alert_events": """
        CREATE TABLE IF NOT EXISTS alert_events (
            id          BIGINT PRIMARY KEY DEFAULT nextval('alert_events_id_seq'),
            rule_id     BIGINT NOT NULL,
            rule_name   VARCHAR NOT NULL,
            kpi         VARCHAR NOT NULL,
            status      VARCHAR NOT NULL,
            ts          TIMESTAMP NOT NULL,
            started_at  TIMESTAMP NOT NULL,
            ended_at    TIMESTAMP,
            observed    DOUBLE,
            expected    DOUBLE,
            message     VARCHAR NOT NULL,
            rule        VARCHAR NOT NULL
        )""",
    "webhooks": """
        CREATE TABLE IF NOT EXISTS webhooks (
            id       BIGINT PRIMARY KEY DEFAULT nextval('webhooks_id_seq'),
            url      VARCHAR NOT NULL,
            enabled  BOOLEAN NOT NULL,
            created  TIMESTAMP NOT NULL
        )""",
    "webhook_deliveries": """
        CREATE TABLE IF NOT EXISTS webhook_deliveries (
            id        BIGINT PRIMARY KEY DEFAULT nextval('webhook_deliveries_id_seq'),
            event_id  BIGINT NOT NULL,
            url       VARCHAR NOT NULL,
            attempt   INTEGER NOT NULL,
            status    INTEGER,
            ok        BOOLEAN NOT NULL,
            ts        TIMESTAMP NOT NULL,
            error     VARCHAR
        )""",
    # ---- derived tables, kept current by data/rollups.py inside every write transaction ----
    # One row per order: the first purchase event carrying its order_id.
    "orders": """
        CREATE TABLE IF NOT EXISTS orders (
            order_id    VARCHAR PRIMARY KEY,
            ts          TIMESTAMP NOT NULL,
            event_id    VARCHAR NOT NULL,
            session_id  VARCHAR NOT NULL,
            user_id     VARCHAR NOT NULL,
            revenue     DOUBLE NOT NULL
        )""",
    # One row per user who ever ordered: when they first did (new customers for CAC).
    "customers": """
        CREATE TABLE IF NOT EXISTS customers (
            user_id         VARCHAR PRIMARY KEY,
            first_order_ts  TIMESTAMP NOT NULL,
            orders          BIGINT NOT NULL,
            revenue         DOUBLE NOT NULL
        )""",
    # One row per session, with the attributes of its first event (ties in ts broken by event_id).
    "sessions": """
        CREATE TABLE IF NOT EXISTS sessions (
            session_id      VARCHAR PRIMARY KEY,
            user_id         VARCHAR NOT NULL,
            first_ts        TIMESTAMP NOT NULL,
            first_event_id  VARCHAR NOT NULL,
            last_ts         TIMESTAMP NOT NULL,
            channel         VARCHAR NOT NULL,
            campaign        VARCHAR NOT NULL,
            device          VARCHAR NOT NULL,
            region          VARCHAR NOT NULL,
            landing_page    VARCHAR,
            """ + _EVENT_COUNTS_DDL + """,
            engaged         BOOLEAN NOT NULL,
            furthest_step   SMALLINT NOT NULL
        )""",
    # Event counts per UTC hour, by the attributes of each event's session.
    "rollup_hourly": """
        CREATE TABLE IF NOT EXISTS rollup_hourly (
            hour           TIMESTAMP NOT NULL,
            channel        VARCHAR NOT NULL,
            campaign       VARCHAR NOT NULL,
            device         VARCHAR NOT NULL,
            region         VARCHAR NOT NULL,
            """ + _EVENT_COUNTS_DDL + """,
            PRIMARY KEY (hour, channel, campaign, device, region)
        )""",
    # Media-mix datasets imported with `python -m data.load mmm` (docs/import.md): a wide weekly or daily
    # table described here, its values stored long in mmm_observations, for the budget view to model.
    "mmm_datasets": """
        CREATE TABLE IF NOT EXISTS mmm_datasets (
            name             VARCHAR PRIMARY KEY,
            granularity      VARCHAR NOT NULL,
            date_column      VARCHAR NOT NULL,
            outcome          VARCHAR NOT NULL,
            spend_columns    VARCHAR NOT NULL,
            control_columns  VARCHAR NOT NULL,
            first_period     DATE NOT NULL,
            last_period      DATE NOT NULL,
            rows             BIGINT NOT NULL,
            imported_at      TIMESTAMP NOT NULL
        )""",
    "mmm_observations": """
        CREATE TABLE IF NOT EXISTS mmm_observations (
            dataset   VARCHAR NOT NULL,
            period    DATE NOT NULL,
            variable  VARCHAR NOT NULL,
            role      VARCHAR NOT NULL,
            channel   VARCHAR,
            value     DOUBLE NOT NULL,
            PRIMARY KEY (dataset, period, variable)
        )""",
    # What-if budget splits saved by name on the budget page, to compare side by side.
    "budget_scenarios": """
        CREATE TABLE IF NOT EXISTS budget_scenarios (
            name     VARCHAR PRIMARY KEY,
            source   VARCHAR NOT NULL,
            dataset  VARCHAR NOT NULL,
            period   VARCHAR NOT NULL,
            spend    VARCHAR NOT NULL,
            saved    TIMESTAMP NOT NULL
        )""",
    # Facts the demo generator used to produce the data (response curves, experiment effects,
    # incidents), one JSON document per topic, so tests and the budget view can be checked against them.
    "ground_truth": """
        CREATE TABLE IF NOT EXISTS ground_truth (
            topic  VARCHAR PRIMARY KEY,
            body   VARCHAR NOT NULL
        )""",
}

SEQUENCES = ("CREATE SEQUENCE IF NOT EXISTS annotations_id_seq START 1",
             "CREATE SEQUENCE IF NOT EXISTS alert_rules_id_seq START 1",
             "CREATE SEQUENCE IF NOT EXISTS alert_events_id_seq START 1",
             "CREATE SEQUENCE IF NOT EXISTS webhooks_id_seq START 1",
             "CREATE SEQUENCE IF NOT EXISTS webhook_deliveries_id_seq START 1")


def create_all(conn) -> None:
    """Create every table that does not exist yet. `conn` is a DBAPI connection (duckdb's own, or
    SQLAlchemy's raw connection); the statements carry no user input."""
    for statement in SEQUENCES:
        conn.execute(statement)
    for ddl in TABLES.values():
        conn.execute(ddl)
    conn.executemany("INSERT INTO channels (name, label, paid, sort_order) VALUES (?, ?, ?, ?) "
                     "ON CONFLICT DO NOTHING", [list(row) for row in REFERENCE_CHANNELS])


# ---- bulk loads: a table is filled faster without its primary key, which is then built once from the
# sorted keys (DuckDB builds an index in bulk many times faster than row by row as rows arrive).

_COLUMN_KEY = re.compile(r"^\s*(\w+)\s+\w+\s+PRIMARY KEY", re.MULTILINE)
_TABLE_KEY = re.compile(r",\s*PRIMARY KEY \(([^)]*)\)")


def primary_key(table: str) -> tuple[str, ...]:
    """The primary key columns of `table`, read from its DDL."""
    ddl = TABLES[table]
    found = _TABLE_KEY.search(ddl) or _COLUMN_KEY.search(ddl)
    if found is None:
        raise ValueError(f"table {table!r} has no primary key")
    return tuple(c.strip() for c in found.group(1).split(","))


def create_without_key(conn, table: str) -> None:
    """(Re)create the empty `table` without its primary key, for a bulk load followed by `add_key`."""
    ddl = _TABLE_KEY.sub("", TABLES[table]).replace(" PRIMARY KEY", " NOT NULL")
    conn.execute("DROP TABLE IF EXISTS " + table)   # names from TABLES only
    conn.execute(ddl)


def add_key(conn, table: str) -> None:
    """Build `table`'s primary key over the rows it holds (fails if two rows share a key)."""
    conn.execute(f"ALTER TABLE {table} ADD PRIMARY KEY ({', '.join(primary_key(table))})")  # names from TABLES only: primary_key raises for any other
