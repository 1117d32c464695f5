"""The tables' and views' descriptions in PostgreSQL (what Metabase shows): every column of
every table and view described, in French by default, in English as an option (``SNU_REPORT_LANGUAGE``), from the
one catalogue (``io/sql/comments.toml``) that also gives the Dagster column schemas."""

import uuid

from snu_assets.io.postgres import column_docs, table_description, table_docs
from snu_assets_tests.conftest import drop_schema, make_postgres

#: information_schema's name of each SQL type the catalogue uses
DATA_TYPES = {
    "text": "text",
    "integer": "integer",
    "smallint": "smallint",
    "boolean": "boolean",
    "date": "date",
    "timestamptz": "timestamp with time zone",
    "jsonb": "jsonb",
    "numeric(12, 1)": "numeric",
    "numeric": "numeric",
}


def described(postgres, table: str) -> tuple[str | None, dict[str, tuple[str, str | None]]]:
    """(table comment, {column: (data type, comment)}) as PostgreSQL holds them."""
    with postgres.connect() as conn:
        comment = conn.execute(
            "select obj_description(format('%%I.%%I', %s::text, %s::text)::regclass, 'pg_class')",
            (postgres.schema, table),
        ).fetchone()[0]
        columns = conn.execute(
            "select c.column_name, c.data_type, "
            "col_description(format('%%I.%%I', c.table_schema, c.table_name)::regclass, "
            "c.ordinal_position) "
            "from information_schema.columns c where c.table_schema = %s and c.table_name = %s",
            (postgres.schema, table),
        ).fetchall()
    return comment, {name: (data_type, text) for name, data_type, text in columns}


def test_every_column_is_commented_in_french_by_default(pipeline):
    for table in table_docs():
        comment, columns = described(pipeline, table)
        assert comment == table_description(table, "fr"), table
        expected = column_docs(table, "fr")
        assert set(columns) == {name for name, _, _ in expected}, table
        for name, sql_type, text in expected:
            assert columns[name] == (DATA_TYPES[sql_type], text), (table, name)
    _, funnel = described(pipeline, "weekly_funnel")
    assert funnel["validated_cumulated"][1].startswith("Dossiers validés depuis l’ouverture")


def test_english_comments_are_an_option(postgres_url):
    postgres = make_postgres(postgres_url, f"snu_test_en_{uuid.uuid4().hex[:8]}")
    try:
        postgres.ensure_schema("en")
        comment, funnel = described(postgres, "weekly_funnel")
        assert comment.startswith("Published weekly funnel (role snu_public)")
        assert funnel["created"][1] == "Young accounts created in the week (young.created)."
        postgres.ensure_schema("fr")  # the language is part of the schema's version
        _, funnel = described(postgres, "weekly_funnel")
        assert funnel["created"][1] == "Comptes de jeunes créés dans la semaine (young.created)."
    finally:
        drop_schema(postgres)
