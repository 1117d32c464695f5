"""The reference assets of the weekly views: the annual objectives (``inscription_goals``)
and the cohort calendar (``cohorts``), read from MongoDB."""

import re
from datetime import date, datetime

from dagster import (
    MaterializeResult,
    asset,
)

from snu_assets.core.reference.geography import department_by_name
from snu_assets.core.values import as_id
from snu_assets.defs.metadata import definition_metadata
from snu_assets.defs.policies import MONGO_RETRY, OWNERS, retry_transient_only
from snu_assets.defs.resources import (
    MongoResource,
    PostgresResource,
    PseudonymResource,
)
from snu_assets.settings import COLLECTIONS

FRENCH_MONTHS = {
    "janvier": 1,
    "fevrier": 2,
    "février": 2,
    "mars": 3,
    "avril": 4,
    "mai": 5,
    "juin": 6,
    "juillet": 7,
    "aout": 8,
    "août": 8,
    "septembre": 9,
    "octobre": 10,
    "novembre": 11,
    "decembre": 12,
    "décembre": 12,
}


@asset(
    group_name="views",
    owners=OWNERS,
    kinds={"mongodb", "postgres"},
    metadata=definition_metadata("inscription_goals"),
    retry_policy=MONGO_RETRY,
    description="Objectifs annuels (nombre maximal de jeunes validés) par cohorte × "
    "département, lus dans la collection MongoDB inscriptiongoals ; département, région et "
    "académie vérifiés d'après le référentiel livré avec le code.",
)
@retry_transient_only
def inscription_goals(
    mongo: MongoResource, postgres: PostgresResource, pseudonyms: PseudonymResource
) -> MaterializeResult:
    pseudonymize = pseudonyms.pseudonymizer(postgres)
    postgres.ensure_schema()
    rows, skipped = {}, 0
    for goal in mongo.db()[COLLECTIONS["inscriptiongoals"]].find({}):
        cohort, department = goal.get("cohort"), goal.get("department")
        if not isinstance(cohort, str) or not isinstance(department, str):
            skipped += 1
            continue
        known = department_by_name(department)
        cohort_id = as_id(goal.get("cohortId"))
        rows[(cohort, known.name if known else department)] = (
            cohort,
            pseudonymize("cohort", cohort_id) if cohort_id else None,
            known.name if known else department,
            known.code if known else None,
            known.region if known else goal.get("region"),
            known.academy if known else goal.get("academy"),
            int(goal.get("max") or 0),
        )
    postgres.replace_rows(
        "inscription_goals",
        ("cohort", "cohort_id", "department", "department_code", "region", "academy", "objective"),
        rows.values(),
        "true",
        {},
    )
    return MaterializeResult(
        metadata={
            "dagster/row_count": len(rows),
            "dagster/table_name": f"{postgres.schema}.inscription_goals",
            "objectifs_ignorés_sans_cohorte_ou_département": skipped,
            "objectif_total": sum(r[-1] for r in rows.values()),
        }
    )


def close_from_name(cohort: str) -> date | None:
    """``"Juillet 2025"``, ``"Février 2026 - C"``: inscriptions close when the session's month
    starts, the fallback when MongoDB has no cohort calendar."""
    match = re.search(r"([A-Za-zéèûôÉ]+)\s+(\d{4})", cohort)
    if not match or match.group(1).lower() not in FRENCH_MONTHS:
        return None
    return date(int(match.group(2)), FRENCH_MONTHS[match.group(1).lower()], 1)


def _day(value: object) -> date | None:
    if isinstance(value, datetime):
        return value.date()
    if isinstance(value, str):
        try:
            return date.fromisoformat(value[:10])
        except ValueError:
            return None
    return None


@asset(
    group_name="views",
    owners=OWNERS,
    kinds={"mongodb", "postgres"},
    metadata=definition_metadata("cohorts"),
    deps=["inscription_goals", "enriched_events"],
    description="Calendrier des cohortes utilisé par les projections : période d'inscription "
    "lue dans la collection MongoDB cohorts quand elle en a une ; sinon, ouverte au premier "
    "événement de la cohorte et close le premier jour du mois que nomme la cohorte.",
)
def cohorts(mongo: MongoResource, postgres: PostgresResource) -> MaterializeResult:
    postgres.ensure_schema()
    calendar = {}
    for doc in mongo.db()[COLLECTIONS["cohorts"]].find(
        {}, {"name": 1, "inscriptionStartDate": 1, "inscriptionEndDate": 1}
    ):
        if isinstance(doc.get("name"), str):
            calendar[doc["name"]] = (
                doc["name"],
                _day(doc.get("inscriptionStartDate")),
                _day(doc.get("inscriptionEndDate")),
                "cohorts collection",
            )
    with postgres.connect() as conn:
        first_days = dict(
            conn.execute(
                f'select cohort, min(event_day) from "{postgres.schema}".enriched_events '
                "where cohort is not null group by cohort"
            ).fetchall()
        )
        goal_cohorts = {
            r[0]
            for r in conn.execute(
                f'select distinct cohort from "{postgres.schema}".inscription_goals'
            )
        }
    for name in (set(first_days) | goal_cohorts) - set(calendar):
        close = close_from_name(name)
        calendar[name] = (name, first_days.get(name), close, "cohort name" if close else "unknown")
    postgres.replace_rows(
        "cohorts",
        ("cohort", "inscription_start", "inscription_end", "dates_from"),
        calendar.values(),
        "true",
        {},
    )
    return MaterializeResult(
        metadata={
            "dagster/row_count": len(calendar),
            "dagster/table_name": f"{postgres.schema}.cohorts",
        }
    )
