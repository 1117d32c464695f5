"""Readers of what the weekly publication builds on: the weeks already published (as far
back as the current blocks need, never the whole history), each cohort's first published
week, the objectives and the cohort calendar. SQL in ``sql/publication/``."""

from __future__ import annotations

from collections import defaultdict
from datetime import date
from pathlib import Path

import psycopg

from snu_assets.core.publication.funnel import FunnelWeek
from snu_assets.core.publication.grain import COLUMNS
from snu_assets.core.publication.publish import History, history_start
from snu_assets.io.postgres import sql_text

SQL = Path(__file__).parent / "sql" / "publication"


def _query(
    conn: psycopg.Connection, schema: str, name: str, params: dict | None = None
) -> psycopg.Cursor:
    return conn.execute(sql_text(SQL / f"{name}.sql", schema), params or {})


def read_history(conn: psycopg.Connection, schema: str, week: date, block_weeks: int) -> History:
    """What the blocks of ``week`` need: the weeks published in the last ``block_weeks``
    weeks, with each cohort's rows and hidden values, and each cohort's first week."""
    params = {"start": history_start(week, block_weeks), "week": week}
    history = History()
    history.published_weeks = {w for (w,) in _query(conn, schema, "published_weeks", params)}
    history.first_week = dict(_query(conn, schema, "first_weeks").fetchall())
    weeks: dict[str, dict[date, FunnelWeek]] = defaultdict(dict)
    for w, cohort, *key_values in _query(conn, schema, "rows", params):
        key, values = tuple(key_values[:4]), key_values[4:]
        fw = weeks[cohort].setdefault(w, FunnelWeek())
        fw.exact[key] = {c: v or 0 for c, v in zip(COLUMNS, values, strict=True)}
    for w, cohort, *rest in _query(conn, schema, "hidden", params):
        key, column, status, exact = tuple(rest[:4]), rest[4], rest[5], rest[6]
        fw = weeks[cohort].setdefault(w, FunnelWeek())
        fw.exact.setdefault(key, dict.fromkeys(COLUMNS, 0))[column] = exact
        fw.hidden[(column, key)] = status
    history.weeks = weeks
    return history


def read_logged(conn: psycopg.Connection, schema: str, week: date) -> dict | None:
    """The log of ``week`` when it is already published."""
    cursor = _query(conn, schema, "logged", {"week": week})
    row = cursor.fetchone()
    if row is None:
        return None
    names = [d.name for d in cursor.description or ()]
    return dict(zip(names, row, strict=True))


def read_goals(conn: psycopg.Connection, schema: str) -> dict[tuple, int]:
    """Objectives per ``(cohort, level, place)``: a department's, a region's (the sum of its
    departments'), the nation's (``place`` None)."""
    goals: dict[tuple, int] = {}
    for cohort, department, region, objective in _query(conn, schema, "goals"):
        goals[(cohort, "department", department)] = objective
        region = region or "unknown"
        goals[(cohort, "region", region)] = goals.get((cohort, "region", region), 0) + objective
        goals[(cohort, "national", None)] = goals.get((cohort, "national", None), 0) + objective
    return goals


def read_calendar(conn: psycopg.Connection, schema: str) -> dict[str, tuple]:
    """Each cohort's inscription window ``(start, end)``."""
    return {c: (s, e) for c, s, e in _query(conn, schema, "calendar")}
