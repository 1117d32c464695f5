"""Every patch accounted for, over the whole history (issue #21): the patches MongoDB holds,
counted by the day they belong to (their BSON ``date``, else the day of their ObjectId in
``SNU_TIMEZONE``), against the rows PostgreSQL holds for that day in ``raw_patches`` plus
``rejected_patches``. A day that differs is named with both counts: a day never loaded, late
patches not yet re-loaded, or a patch no window query finds.

The ``reconciliation`` job (one op, scheduled after the night's loads, launchable from the UI):
one read of ``_id`` and ``date`` over each patch collection. It fails naming the days that
differ, and records what it found as an observation of ``raw_patches`` (its metadata, on the
asset's page). A job rather than an asset check of ``raw_patches``: Dagster runs every check of
an asset with each of its materialisations (backfills included), and this one reads the whole
history."""

from collections import Counter
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field

from dagster import AssetObservation, Failure, MetadataValue, OpExecutionContext, Output, op

from snu_assets import settings
from snu_assets.daily_load.extract import MODELS_IN_ORDER
from snu_assets.defs.partitions import daily_partitions
from snu_assets.defs.resources import MongoResource, PostgresResource
from snu_assets.io import mongo as source

#: days named in the check's description at most (all of them in its metadata, up to 1,000)
SHOWN_DAYS = 20
LISTED_DAYS = 1_000


@dataclass
class Reconciliation:
    """``differing``: ``{day: (in MongoDB, in PostgreSQL)}`` over the partitions' days."""

    first_day: str
    last_day: str
    differing: dict[str, tuple[int, int]] = field(default_factory=dict)
    in_mongodb: int = 0
    accounted: int = 0
    #: patches with neither a BSON date nor an ObjectId _id: no day can hold them
    without_day: int = 0
    #: patches of days no partition covers yet (before SNU_START_DATE, today's open day)
    outside_partitions: dict[str, int] = field(default_factory=dict)

    @property
    def passed(self) -> bool:
        return not self.differing and not self.without_day

    def describe(self) -> str:
        if self.passed:
            return (
                f"Every patch of {self.first_day}..{self.last_day} is accounted for: "
                f"{self.in_mongodb} in MongoDB, {self.accounted} in raw_patches + "
                "rejected_patches."
            )
        days = sorted(self.differing)
        shown = "; ".join(
            f"{day}: {self.differing[day][0]} in MongoDB, {self.differing[day][1]} landed + "
            "quarantined"
            for day in days[:SHOWN_DAYS]
        )
        more = f" (and {len(days) - SHOWN_DAYS} more days)" if len(days) > SHOWN_DAYS else ""
        parts = []
        if days:
            parts.append(
                f"{len(days)} day(s) differ: {shown}{more}. Re-materialise these days "
                "(daily_layers job, or a backfill of raw_patches over them)"
            )
        if self.without_day:
            parts.append(
                f"{self.without_day} patch(es) have neither a BSON date nor an ObjectId _id: "
                "no day holds them; fix them in MongoDB"
            )
        return ". ".join(parts) + "."


def reconcile(
    in_mongodb: Mapping[str, int], landed: Mapping[str, int], first_day: str, last_day: str
) -> Reconciliation:
    """Compare per day (``""``: patches without a day)."""
    result = Reconciliation(first_day, last_day)
    result.without_day = in_mongodb.get("", 0)
    for day in sorted((set(in_mongodb) | set(landed)) - {""}):
        mongo_count, pg_count = in_mongodb.get(day, 0), landed.get(day, 0)
        if not first_day <= day <= last_day:
            if mongo_count:
                result.outside_partitions[day] = mongo_count
            continue
        result.in_mongodb += mongo_count
        result.accounted += pg_count
        if mongo_count != pg_count:
            result.differing[day] = (mongo_count, pg_count)
    return result


def reconcile_history(mongo: MongoResource, postgres: PostgresResource) -> Reconciliation:
    """MongoDB's patches per day against PostgreSQL's rows per day, over the partitions."""
    in_mongodb: Counter[str] = Counter()
    db = mongo.db()
    for model in MODELS_IN_ORDER:
        in_mongodb.update(source.patches_per_day(db, model))
    postgres.ensure_schema()
    with postgres.connect() as conn:
        landed = {
            day: int(n)
            for day, n in conn.execute(postgres.sql("reconcile_landed_per_day.sql")).fetchall()
        }
    last = daily_partitions.get_last_partition_key() or settings.start_date()
    return reconcile(in_mongodb, landed, settings.start_date(), last)


def reconciliation_metadata(result: Reconciliation) -> dict:
    return {
        "reconciled": result.passed,
        "summary": MetadataValue.text(result.describe()),
        "days_that_differ": {
            day: {"mongodb": m, "landed_plus_quarantined": p}
            for day, (m, p) in sorted(result.differing.items())[:LISTED_DAYS]
        },
        "days_that_differ_count": len(result.differing),
        "patches_in_mongodb": result.in_mongodb,
        "rows_raw_plus_rejected": result.accounted,
        "patches_without_a_day": result.without_day,
        "patches_outside_the_partitions": sum(result.outside_partitions.values()),
        "days": f"{result.first_day}..{result.last_day}",
    }


@op(
    description="Sur tout l'historique : pour chaque jour des partitions, les patchs que "
    "contient MongoDB (selon leur date BSON, sinon le jour de leur ObjectId) sont en même "
    "nombre que les lignes de raw_patches et de rejected_patches ; échoue en nommant chaque "
    "jour qui diffère."
)
def reconcile_patches(
    context: OpExecutionContext, mongo: MongoResource, postgres: PostgresResource
) -> Iterator[AssetObservation | Output[None]]:
    result = reconcile_history(mongo, postgres)
    metadata = reconciliation_metadata(result)
    yield AssetObservation(asset_key="raw_patches", metadata=metadata)
    if not result.passed:
        raise Failure(description=result.describe(), metadata=metadata, allow_retries=False)
    context.log.info(result.describe())
    yield Output(None)
