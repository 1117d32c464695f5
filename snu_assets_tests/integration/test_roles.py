"""Least privilege: the Metabase roles read their tables only and write nothing (the public
role: test_disclosure.py)."""

import psycopg
import pytest

from snu_assets_testing.roles import temporary_roles


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


def test_writer_can_replace_partitions(roles):
    postgres, _, writer = roles
    with connect_as(postgres, writer) as conn, conn.transaction():
        conn.execute(
            f'delete from "{postgres.schema}".weekly_funnel where week = %s', ("1999-01-04",)
        )
        assert (
            conn.execute(f'select count(*) from "{postgres.schema}".raw_patches').fetchone()[0] > 0
        )
