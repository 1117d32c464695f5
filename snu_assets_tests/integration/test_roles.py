"""Least privilege: the Metabase roles read their tables and views only and write nothing (the
public role: test_disclosure.py, and here its views), and a key rotation keeps their grants."""

import uuid

import psycopg
import pytest

from snu_assets.io.postgres import table_docs
from snu_assets.ops.rotation import ROTATION_SQL
from snu_assets_testing.roles import temporary_roles
from snu_assets_tests.conftest import drop_schema, make_postgres

#: the Metabase questions' views (ddl_60_metabase_views.sql), and those the public role reads
VIEWS = sorted(name for name, doc in table_docs().items() if doc.kind == "view")
PUBLIC_VIEWS = {"vue_valides_par_departement", "vue_entonnoir_par_region"}


@pytest.fixture()
def roles(pipeline):
    with temporary_roles(pipeline) as names:
        yield pipeline, names["reader"], names["writer"]


def connect_as(postgres, role):
    return psycopg.connect(postgres.resolved_url(), user=role, autocommit=True)


def test_reader_sees_published_tables_only_and_writes_nothing(roles):
    postgres, reader, _ = roles
    schema = postgres.schema
    with connect_as(postgres, reader) as conn:
        assert (
            conn.execute(f'select count(*) from "{schema}".weekly_funnel_national').fetchone()[0]
            > 0
        )
        assert conn.execute(f'select count(*) from "{schema}".enriched_events').fetchone()[0] > 0
        assert (
            conn.execute(f'select count(*) from "{schema}".weekly_funnel_hidden').fetchone()[0] > 0
        )
        for internal in ("raw_patches", "rejected_patches", "reconstructed_events"):
            with pytest.raises(psycopg.errors.InsufficientPrivilege):
                conn.execute(f'select 1 from "{schema}".{internal} limit 1')
        with pytest.raises(psycopg.errors.InsufficientPrivilege):
            conn.execute(f'delete from "{schema}".weekly_funnel')
        with pytest.raises(psycopg.errors.InsufficientPrivilege):
            conn.execute(f'create table "{schema}".intruder (x int)')
        # every question's view, read-only
        for view in VIEWS:
            assert conn.execute(f'select count(*) from "{schema}".{view}').fetchone()[0] > 0
        with pytest.raises(psycopg.errors.InsufficientPrivilege):
            conn.execute(f'create or replace view "{schema}".{VIEWS[0]} as select 1 as x')


def test_public_reads_the_views_over_published_values_only(pipeline):
    schema = pipeline.schema
    assert PUBLIC_VIEWS < set(VIEWS)
    with temporary_roles(pipeline) as names, connect_as(pipeline, names["public"]) as conn:
        for view in VIEWS:
            if view in PUBLIC_VIEWS:
                assert conn.execute(f'select count(*) from "{schema}".{view}').fetchone()[0] > 0
            else:  # they read enriched_events or weekly_funnel_national: exact counts
                with pytest.raises(psycopg.errors.InsufficientPrivilege):
                    conn.execute(f'select 1 from "{schema}".{view} limit 1')


def test_views_read_with_the_callers_rights(pipeline):
    with pipeline.connect() as conn:
        found = dict(
            conn.execute(
                "select c.relname, c.reloptions from pg_class c "
                "join pg_namespace n on n.oid = c.relnamespace "
                "where n.nspname = %s and c.relkind = 'v'",
                (pipeline.schema,),
            ).fetchall()
        )
        version = int(conn.execute("show server_version_num").fetchone()[0])
    assert sorted(found) == VIEWS
    if version >= 150000:  # PostgreSQL 15: a view granted by mistake opens nothing more
        assert all(options == ["security_invoker=true"] for options in found.values()), found


def test_a_key_rotation_replays_the_grants_on_the_views(postgres_url):
    """rotation/grants.sql: the grants of the current schema, views included, as statements
    for the rebuilt one (the rotation runs them before the swap)."""
    tag = uuid.uuid4().hex[:8]
    current = make_postgres(postgres_url, f"snu_test_grants_{tag}")
    shadow = make_postgres(postgres_url, f"snu_test_grants_{tag}_rotation")
    try:
        current.ensure_schema()
        shadow.ensure_schema()
        with temporary_roles(current) as names:
            with current.connect() as conn:
                grants = [
                    g
                    for (g,) in conn.execute(
                        (ROTATION_SQL / "grants.sql").read_text(),
                        {"schema": current.schema, "shadow": shadow.schema},
                    ).fetchall()
                ]
            for view in VIEWS:
                granted = {
                    g.rsplit(" to ", 1)[1]
                    for g in grants
                    if g.startswith("grant SELECT ") and f" on {shadow.schema}.{view} to " in g
                }
                expected = {names["reader"]} | (
                    {names["public"]} if view in PUBLIC_VIEWS else set()
                )
                assert granted & {names["reader"], names["public"]} == expected, (view, granted)
    finally:
        drop_schema(shadow)
        drop_schema(current)


def test_writer_can_replace_partitions(roles):
    postgres, _, writer = roles
    with connect_as(postgres, writer) as conn, conn.transaction():
        conn.execute(
            f'delete from "{postgres.schema}".weekly_funnel where week = %s', ("1999-01-04",)
        )
        assert (
            conn.execute(f'select count(*) from "{postgres.schema}".raw_patches').fetchone()[0] > 0
        )
