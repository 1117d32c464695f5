"""The Metabase questions' views (no server): each one created after the tables it reads,
described in both languages, granted to the ministry's role, and granted to the public role
only when it reads nothing but what that role may read (the published funnel and the
reference data): a view over an exact table would hand ``snu_public`` the exact counts
(before PostgreSQL 15 a view reads with its owner's rights). The views' answers, under each
role: integration/test_metabase_sql.py and test_roles.py."""

import re

from snu_assets.io.postgres import LANGUAGES, SQL_DIR, column_docs, ddl_files, table_docs

VIEWS_DDL = SQL_DIR / "ddl_60_metabase_views.sql"
ROLES = SQL_DIR / "roles.sql"
#: what may leave the ministry: nothing a public view reads may be anything else
PUBLIC_TABLES = {"weekly_funnel", "inscription_goals", "cohorts", "ref_departments"}


def views() -> dict[str, set[str]]:
    """{view: the tables and views its query reads} of the views' DDL."""
    text = VIEWS_DDL.read_text()
    found = re.findall(r'create or replace view "\{schema\}"\.(\w+) as\n(.*?);\n', text, re.S)
    return {name: set(re.findall(r'"\{schema\}"\.(\w+)', body)) for name, body in found}


def granted(role: str) -> set[str]:
    """What ``roles.sql`` grants ``select`` on to ``{role}``."""
    text = ROLES.read_text()
    found = set()
    grants = r'grant select on((?:\s*"\{schema\}"\.\w+,?)+)\s*to "\{' + role + r'\}";'
    for names in re.findall(grants, text):
        found |= set(re.findall(r'"\{schema\}"\.(\w+)', names))
    return found


def created_in() -> dict[str, int]:
    """{table or view: the index in ``ddl_files()`` of the file that creates it}."""
    where = {}
    for index, path in enumerate(ddl_files()):
        for name in re.findall(
            r'create (?:table if not exists|or replace view) "\{schema\}"\.(\w+)', path.read_text()
        ):
            where[name] = index
    return where


def test_every_view_is_described_granted_to_the_ministry_and_after_its_tables():
    found = views()
    assert len(found) == 6 and all(name.startswith("vue_") for name in found)
    docs = table_docs()
    assert {name for name, doc in docs.items() if doc.kind == "view"} == set(found)
    for name in found:
        for language in LANGUAGES:
            assert docs[name].description[language].strip(), (name, language)
            assert all(text.strip() for _, _, text in column_docs(name, language)), name
        assert "snu_reader" in docs[name].description["fr"], name  # its audience, named
    assert set(found) <= granted("reader")
    where = created_in()
    for name, reads in found.items():
        assert reads, name
        assert all(where[table] < where[name] for table in reads), (name, reads)


def test_the_public_role_gets_only_views_over_what_it_may_read():
    public = granted("public")
    public_views = public & set(views())
    assert public_views == {"vue_valides_par_departement", "vue_entonnoir_par_region"}
    assert public - public_views == PUBLIC_TABLES
    for name in public_views:
        reads = views()[name]
        assert reads <= PUBLIC_TABLES, f"{name} reads {reads - PUBLIC_TABLES}"
        assert "snu_public" in table_docs()[name].description["fr"], name
    for name in set(views()) - public_views:
        assert "snu_public" not in table_docs()[name].description["fr"], name


def test_every_view_reads_with_the_callers_rights_from_postgresql_15():
    text = VIEWS_DDL.read_text()
    invoker = set(
        re.findall(r'alter view "\{schema\}"\.(\w+) set \(security_invoker = true\)', text)
    )
    assert invoker == set(views())
