"""The allow-list: the single source of truth of what may leave MongoDB.

Every layer (``raw_patches`` ops, reconstructed ``before``/``after`` states, enrichment
columns, checks) reads this module. A field that is not listed here never reaches
PostgreSQL; a listed field goes through its rule:

- ``KEEP``: statistical value kept as is (scalars only);
- ``MONTH``: a date generalised to its month (``birthdateAt`` → ``"2009-04"``), so that an age
  can be computed without storing the exact birth date;
- ``PSEUDONYM``: a MongoDB id replaced by its keyed hash (same namespace → same pseudonym,
  so ids still join across tables).

Allow-list, never block-list: a new field added to the production schema is dropped until
someone adds it here on purpose.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import Enum


class Rule(Enum):
    KEEP = "keep"
    MONTH = "month"
    PSEUDONYM = "pseudonym"


@dataclass(frozen=True)
class Field:
    rule: Rule = Rule.KEEP
    #: pseudonym namespace for ``Rule.PSEUDONYM`` (the model the id points to)
    namespace: str | None = None


_KEEP = Field()

YOUNG_FIELDS: dict[str, Field] = {
    "status": _KEEP,
    "statusPhase1": _KEEP,
    "statusPhase2": _KEEP,
    "statusPhase3": _KEEP,
    "cohort": _KEEP,
    "cohortId": Field(Rule.PSEUDONYM, "cohort"),
    "source": _KEEP,
    "gender": _KEEP,
    "birthdateAt": Field(Rule.MONTH),
    "department": _KEEP,
    "region": _KEEP,
    "academy": _KEEP,
    "grade": _KEEP,
    "situation": _KEEP,
    "schooled": _KEEP,
    "schoolType": _KEEP,
    "qpv": _KEEP,
    "populationDensity": _KEEP,
    "isRegionRural": _KEEP,
    "phase": _KEEP,
    "createdAt": _KEEP,
    "lastStatusAt": _KEEP,
}

APPLICATION_FIELDS: dict[str, Field] = {
    "status": _KEEP,
    "youngId": Field(Rule.PSEUDONYM, "young"),
    "missionId": Field(Rule.PSEUDONYM, "mission"),
    "structureId": Field(Rule.PSEUDONYM, "structure"),
    "cohort": _KEEP,
    "cohortId": Field(Rule.PSEUDONYM, "cohort"),
    "missionDepartment": _KEEP,
    "missionRegion": _KEEP,
    "createdAt": _KEEP,
}

ALLOWED_FIELDS: dict[str, dict[str, Field]] = {
    "young": YOUNG_FIELDS,
    "application": APPLICATION_FIELDS,
}

#: Fields whose changes are events (``<model>.<field>.<NEW_VALUE>``), in event order.
TRACKED_FIELDS: dict[str, tuple[str, ...]] = {
    "young": ("status", "statusPhase1", "statusPhase2", "statusPhase3", "cohort"),
    "application": ("status",),
}

#: Author roles kept in ``raw_patches.author_role``; anything else becomes ``other``.
AUTHOR_ROLES = frozenset(
    {
        "admin",
        "referent_department",
        "referent_region",
        "referent_classe",
        "administrateur_cle",
        "head_center",
        "head_center_adjoint",
        "responsible",
        "supervisor",
        "structure_responsible",
        "structure_member",
        "visitor",
        "dsnj",
        "injep",
        "transporter",
        "moderator",
        "young",
        "script",
        "system",
        "other",
    }
)

MODELS = tuple(ALLOWED_FIELDS)


def allowed(model: str, field: str) -> Field | None:
    """The rule of a top-level ``field`` of ``model``, or None when it must not leave MongoDB."""
    return ALLOWED_FIELDS.get(model, {}).get(field)
