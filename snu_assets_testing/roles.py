"""The roles of ``roles.sql`` (ministry reader, public reader, pipeline writer) under
unique names, created for the duration of a block and dropped afterwards."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Protocol


class _Postgres(Protocol):
    def sql(self, name: str) -> str: ...

    def connect(self):  # a psycopg connection (context manager)
        ...


@contextmanager
def temporary_roles(postgres: _Postgres) -> Iterator[dict[str, str]]:
    """``{"reader": ..., "public": ..., "writer": ...}``: the roles of ``roles.sql`` on
    ``postgres``'s schema, named ``snu_<role>_<random suffix>``."""
    suffix = uuid.uuid4().hex[:6]
    names = {role: f"snu_{role}_{suffix}" for role in ("reader", "public", "writer")}
    text = postgres.sql("roles.sql")
    for placeholder, name in names.items():
        text = text.replace("{" + placeholder + "}", name)
    with postgres.connect() as conn:
        conn.execute(text)
    try:
        yield names
    finally:
        with postgres.connect() as conn:
            for name in names.values():
                conn.execute(f'drop owned by "{name}"')
                conn.execute(f'drop role "{name}"')
