"""Least privilege: the Metabase roles read their tables only and write nothing (the public
role: test_disclosure.py)."""

import uuid

import psycopg
import pytest


@pytest.fixture()
def roles(pipeline):
    suffix = uuid.uuid4().hex[:6]
    reader, writer = f"snu_reader_{suffix}", f"snu_writer_{suffix}"
    public = f"snu_public_{suffix}"
    text = (
        pipeline.sql("roles.sql")
        .replace("{reader}", reader)
        .replace("{writer}", writer)
        .replace("{public}", public)
    )
    with pipeline.connect() as conn:
        conn.execute(text)
    yield pipeline, reader, writer
    with pipeline.connect() as conn:
        for role in (reader, writer, public):
            conn.execute(f'drop owned by "{role}"')
            conn.execute(f'drop role "{role}"')


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
