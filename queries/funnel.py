"""The purchase funnel of a range, counted in sessions."""
from __future__ import annotations

from datetime import datetime

import pandas as pd

from data.warehouse import Warehouse
from queries.filters import Filters
from queries.scope import sessions_cte, with_ctes

PURCHASE_FUNNEL = ("page_view", "product_view", "add_to_cart", "checkout", "purchase")


def session_funnel(wh: Warehouse, filters: Filters, start: datetime, end: datetime,
                   steps: tuple[str, ...] = PURCHASE_FUNNEL) -> pd.DataFrame:
    """Sessions that reached each step: of the sessions active in range, those with events (in range) of
    each of steps 1..k (a closed funnel; the funnel view refines this with order and conversion windows).
    Columns: step, sessions, from_previous, from_start."""
    ctes, params = with_ctes(sessions_cte(filters, start, end))
    flags = ",\n".join(f"max(CASE WHEN e.type = :step_{i} THEN 1 ELSE 0 END) AS s{i}" for i in range(len(steps)))
    reached = ",\n".join(
        "sum(" + " * ".join(f"s{j}" for j in range(i + 1)) + f") AS reached_{i}" for i in range(len(steps)))
    sql = ctes + """,
    per_session AS (
        SELECT e.session_id, """ + flags + """
        FROM events e JOIN counted_sessions s ON s.session_id = e.session_id
        WHERE e.ts >= :start AND e.ts < :end
        GROUP BY e.session_id
    )
    SELECT """ + reached + " FROM per_session"
    params.update({f"step_{i}": step for i, step in enumerate(steps)})
    row = wh.read(sql, params).iloc[0]
    counts = [int(row[f"reached_{i}"] or 0) for i in range(len(steps))]
    table = pd.DataFrame({"step": list(steps), "sessions": counts})
    first = table["sessions"].iloc[0]
    table["from_previous"] = table["sessions"] / table["sessions"].shift(1).where(lambda s: s > 0)
    table["from_start"] = table["sessions"] / first if first else float("nan")
    table.loc[0, "from_previous"] = 1.0 if first else float("nan")
    return table
