"""Synthetic SNU data, shaped exactly as production writes it (pure generation, no I/O).

What is generated (the data contract's collections; every field the pipeline reads is in the
allow-list, :mod:`snu_assets.core.privacy.allowlist`):

* ``youngs``: one document per applicant, current state only, with realistic French
  personal data (Faker ``fr_FR``) and the statistical fields of the contract;
* ``young_patches`` / ``application_patches``: one document per save, built like the
  ``mongoose-patch-history`` plugin production uses (``trackOriginalValue: true``,
  ``includes: {modelName, user}``, ``excludes`` of ``/updatedAt`` and auth fields);
* ``applications`` (phase 2), ``inscriptiongoals`` (department x cohort) and ``cohorts``.

How a patch is built (mirrors the plugin, see :func:`plugin_ops`):

1. the document is converted to JSON as mongoose ``toJSON`` + ``JSON.stringify`` would
   (:func:`to_json`: datetimes -> ``"2025-01-06T09:12:33.120Z"``, ObjectIds -> 24-hex);
   the plugin's ``data()`` drops ``_id`` and ``__v``;
2. ``ops`` = the python ``jsonpatch`` diff (stand-in for fast-json-patch's ``compare``),
   called as ``JsonPatch.from_diff(before, after, optimization=False)``: with the
   optimisation off the library emits only ``add`` / ``remove`` / ``replace`` (never
   ``move`` / ``copy``, which fast-json-patch's ``compare`` never emits either). For speed
   the diff is run on the top-level keys the save touched only; every other key holds the
   very same object before and after (copy-on-write), so the output, order included, is
   the one of the diff of the whole documents (a unit test checks it);
3. ops whose path lies under an excluded field are dropped (the plugin's ``excludes``);
4. ``trackOriginalValue``: every non-``add`` op gets ``originalValue``, the value at its
   path in the *before* JSON (the generator only ever appends to arrays, so ``add`` ops
   never point at an existing path);
5. no op left -> no patch (the plugin does not save empty patches).

Production quirks reproduced on small, deterministic shares of youngs: creations before
the log starts (``pre_log``), migrations that change a document without a patch (gaps),
deleted youngs whose patches are cut down to statistical fields (plus, for some, a
``destroy`` patch by another writer), the legal-representatives cron that strips
``/parent1*`` / ``/parent2*`` ops from older patches, secrets in clear in older patches
(an older plugin configuration did not exclude ``/tokenEmailValidation`` nor
``/forgotPasswordResetToken``), patches inserted out of date order, ``_id`` timestamps
skewed by hours, several saves of one young within the same second, Paris days (times
between 00:00 and 01:00 and between 23:00 and 24:00 Paris time).

Everything is deterministic for a given ``seed``: one ``random.Random(seed)``, one
``Faker("fr_FR")`` seeded with ``seed_instance(seed)``, ObjectIds made of the document's
creation second (big-endian, as production's ids) followed by 8 bytes from the seeded RNG.
Generation streams one young's whole life at a time (:func:`generate`), so that 100,000
youngs need no more memory than one life when ``collect_truth=False``.
"""

from __future__ import annotations

import bisect
import datetime as dt
import functools
import hashlib
import heapq
import itertools
import math
import random
import unicodedata
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from zoneinfo import ZoneInfo

import jsonpatch
from bson import ObjectId
from faker import Faker

from snu_assets.core.reference.geography import Department

__all__ = [
    "APPLICATION_EXCLUDES",
    "Batch",
    "LEGACY_YOUNG_EXCLUDES",
    "PatchTruth",
    "SeedData",
    "SeedStats",
    "SeedTruth",
    "STATISTICS_FIELDS",
    "YOUNG_EXCLUDES",
    "generate",
    "generate_all",
    "iso",
    "legacy_until",
    "plugin_ops",
    "plugin_view",
    "to_json",
    "young_excludes",
]

PARIS = ZoneInfo("Europe/Paris")  # the applicants' clock, whatever SNU_TIMEZONE says
UTC = dt.UTC
DEFAULT_START = dt.date(2025, 1, 6)

# --------------------------------------------------------------------------- contract

#: Top-level fields kept when a deleted young's patches are cut down (the contract's
#: "Statistics fields" plus the status fields).
STATISTICS_FIELDS = frozenset(
    {
        "status", "statusPhase1", "statusPhase2", "statusPhase3",
        "cohort", "cohortId", "source", "gender", "birthdateAt", "department", "region",
        "academy", "grade", "situation", "schooled", "schoolType", "qpv",
        "populationDensity", "isRegionRural", "phase", "createdAt", "lastStatusAt",
    }
)  # fmt: skip

#: The young model's ``excludes`` option in production (auth fields and ``/updatedAt``).
YOUNG_EXCLUDES = (
    "/password", "/lastLoginAt", "/lastActivityAt", "/lastLogoutAt", "/passwordChangedAt",
    "/nextLoginAttemptIn", "/forgotPasswordResetToken", "/forgotPasswordResetExpires",
    "/invitationToken", "/invitationExpires", "/phase3Token", "/loginAttempts",
    "/attempts2FA", "/updatedAt", "/token2FA", "/tokenEmailValidation", "/userIps",
)  # fmt: skip

#: The older configuration, in force before :attr:`_World.legacy_until`: it let the
#: e-mail validation and password reset tokens through (secrets in clear in old patches).
LEGACY_YOUNG_EXCLUDES = tuple(
    p for p in YOUNG_EXCLUDES if p not in ("/tokenEmailValidation", "/forgotPasswordResetToken")
)

APPLICATION_EXCLUDES = ("/updatedAt",)

#: Keys the plugin's ``data()`` never diffs (``toObject({versionKey: false})`` minus ``_id``).
_NOT_DIFFED = frozenset({"_id", "__v"})

# --------------------------------------------------------------------------- vocabularies

_FRENCH_MONTHS = (
    "Janvier", "Février", "Mars", "Avril", "Mai", "Juin", "Juillet", "Août", "Septembre",
    "Octobre", "Novembre", "Décembre",
)  # fmt: skip

#: Current cohorts: (opens at, closes at: fractions of the period; stay starts N days
#: after the close; name suffix; attractiveness). With the default period (90 days from
#: 2025-01-06) this gives "Février 2025 - C", "Avril 2025 - A", "Juin 2025 - B",
#: "Juillet 2025".
_COHORT_SPECS = (
    (0.0, 0.45, 10, " - C", 1.0),
    (0.0, 0.75, 22, " - A", 1.2),
    (0.1, 1.0, 60, " - B", 1.0),
    (0.2, 1.0, 90, "", 1.3),
)

# Paris hour of day of self-service actions (creations, edits): evenings, some at night.
_HOUR_WEIGHTS = (3, 0.6, 0.2, 0.1, 0.1, 0.2, 0.5, 1.2, 2.5, 3, 3.2, 3.5, 4, 4, 3.8, 3.8,
                 4.2, 5, 6, 7, 7.5, 7, 5.5, 3.5)  # fmt: skip
_HOUR_CUM = list(itertools.accumulate(_HOUR_WEIGHTS))

_AGE_WEIGHTS = {14: 0.07, 15: 0.34, 16: 0.33, 17: 0.2, 18: 0.06}
_GRADE_BY_AGE = {
    14: ("3eme", "3eme", "4eme"),
    15: ("2ndeGT", "2ndeGT", "2ndePro", "3eme", "2ndeCAP"),
    16: ("1ereGT", "1ereGT", "2ndeGT", "1erePro", "1ereCAP"),
    17: ("TermGT", "1ereGT", "TermPro", "1erePro"),
    18: ("TermGT", "TermPro", "TermCAP"),
}
_NEXT_GRADE = {"4eme": "3eme", "3eme": "2ndeGT", "2ndeGT": "1ereGT", "2ndePro": "1erePro",
               "2ndeCAP": "1ereCAP", "1ereGT": "TermGT", "1erePro": "TermPro",
               "1ereCAP": "TermCAP", "TermGT": "TermGT", "TermPro": "TermPro",
               "TermCAP": "TermCAP", "NOT_SCOLARISE": "NOT_SCOLARISE"}  # fmt: skip
_SCHOOL_BY_GRADE = {"3eme": ("COLLEGE", "Collège"), "4eme": ("COLLEGE", "Collège")}
_PRO_SCHOOL = ("LYCEE_PROFESSIONNEL", "Lycée professionnel")
_GT_SCHOOL = ("LYCEE_GENERAL_ET_TECHNOLOGIQUE", "Lycée")
_AGRI_SCHOOL = ("LYCEE_AGRICOLE", "Lycée agricole")
_NOT_SCHOOLED_SITUATIONS = ("EMPLOYEE", "APPRENTICESHIP", "MISSION_LOCALE", "POLE_EMPLOI",
                            "NOTHING", "INDEPENDANT")  # fmt: skip
_DENSITIES = ("TRES PEU DENSE", "PEU DENSE", "INTERMEDIAIRE", "DENSE")
_DENSITY_WEIGHTS = (0.12, 0.28, 0.3, 0.3)
_EMAIL_DOMAINS = ("gmail.com", "gmail.com", "gmail.com", "hotmail.fr", "hotmail.com",
                  "yahoo.fr", "orange.fr", "free.fr", "outlook.fr", "laposte.net",
                  "icloud.com", "sfr.fr", "wanadoo.fr")  # fmt: skip
_WITHDRAWN_REASONS = ("unavailable_perso", "unavailable_pro", "no_interest",
                      "bad_affectation", "can_not_go_metting_point", "other")  # fmt: skip
_COHORT_CHANGE_REASONS = ("Non disponibilité pour motif familial ou personnel",
                          "Non disponibilité pour motif scolaire ou professionnel",
                          "Autre")  # fmt: skip
_CORRECTION_FIELDS = ("cniFile", "address", "birthCity", "phone", "parent1Email")
_MISSION_THEMES = ("Aide aux devoirs", "Collecte alimentaire", "Accueil du public",
                   "Sensibilisation au tri", "Animation sportive", "Soutien aux aînés",
                   "Préservation du littoral", "Secourisme", "Médiathèque")  # fmt: skip
_BCRYPT_ALPHABET = "./ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789"

# Department weights: "some departments big and some small" (rough population shape).
_BIG_DEPARTMENTS = frozenset("59 75 13 69 92 93 33 78 62 94 31 77 44 91 95 34 06 67 38 974".split())
_SMALL_DEPARTMENTS = frozenset(
    "48 23 05 90 15 09 52 32 82 04 55 58 2A 2B 973 976 36 43 46 19".split()
)
_COLLECTIVITIES = frozenset("975 977 978 986 987 988".split())

# Pseudo-users of scripts and crons (a ``user`` with a ``firstName`` only).
_CRON_LEGAL_REPRESENTATIVES = {"firstName": "Cron deleteLegalRepresentatives"}
_CRON_ABANDON = {"firstName": "Cron abandonIncompleteInscriptions"}
_SCRIPT_AFFECTATION = {"firstName": "Script affectation automatique"}
_SCRIPT_WAITING_LIST = {"firstName": "Script migration cohort 2025"}
_CRON_PHASE1 = {"firstName": "Cron validation phase 1"}
_CRON_MISSIONS = {"firstName": "Cron applications en cours"}

# --------------------------------------------------------------------------- JSON helpers


def iso(value: dt.datetime) -> str:
    """``Date.prototype.toJSON`` of a UTC datetime: ``2025-01-06T09:12:33.120Z``."""
    v = value.astimezone(UTC) if value.tzinfo is not UTC else value
    return (
        f"{v.year:04d}-{v.month:02d}-{v.day:02d}T{v.hour:02d}:{v.minute:02d}:"
        f"{v.second:02d}.{v.microsecond // 1000:03d}Z"
    )


def to_json(value):
    """A value as mongoose ``toJSON`` + ``JSON.stringify`` give it (always a new object)."""
    kind = type(value)
    if kind is str or kind is int or kind is float or kind is bool or value is None:
        return value
    if kind is dict:
        return {k: to_json(v) for k, v in value.items()}
    if kind is list:
        return [to_json(v) for v in value]
    if kind is dt.datetime:
        return iso(value)
    if kind is ObjectId:
        return str(value)
    raise TypeError(f"no JSON form for {kind.__name__}")


_MISSING = object()


def _resolve(document, path: str):
    """The value at a JSON pointer, or ``_MISSING`` (lodash ``get`` on the original)."""
    node = document
    for part in path.split("/")[1:]:
        part = part.replace("~1", "/").replace("~0", "~")
        try:
            node = node[int(part)] if isinstance(node, list) else node[part]
        except (KeyError, IndexError, ValueError, TypeError):
            return _MISSING
    return node


def _top(path: str) -> str:
    """Top-level field of a JSON pointer (``/files/cniFiles/0`` -> ``files``)."""
    return path.split("/", 2)[1].replace("~1", "/").replace("~0", "~")


def plugin_view(document_json: dict, excludes: Iterable[str] = YOUNG_EXCLUDES) -> dict:
    """What the plugin diffs: the JSON document without ``_id``, ``__v`` and excluded
    top-level fields. Handy to check ``apply_patch(view(before), ops) == view(after)``."""
    dropped = _NOT_DIFFED | {p[1:] for p in excludes}
    return {k: v for k, v in document_json.items() if k not in dropped}


def plugin_ops(
    before: dict, after: dict, excludes: Iterable[str], keys: Iterable[str] | None = None
) -> list[dict]:
    """``ops`` of a mongoose-patch-history patch (see the module docstring).

    ``before`` / ``after`` are the full JSON documents (``{}`` before a creation); ``keys``
    restricts the diff to the top-level keys a save touched (every other key must hold
    identical values), ``None`` diffs everything.
    """
    dropped = _NOT_DIFFED | {p[1:] for p in excludes}
    if keys is None:
        wanted = (set(before) | set(after)) - dropped
    else:
        wanted = set(keys) - dropped
    if not wanted:
        return []
    src = {k: v for k, v in before.items() if k in wanted}
    dst = {k: v for k, v in after.items() if k in wanted}
    ops = jsonpatch.JsonPatch.from_diff(src, dst, optimization=False).patch
    for op in ops:
        if op["op"] not in ("add", "remove", "replace"):  # pragma: no cover - guarded above
            raise AssertionError(f"unexpected JSON Patch op {op!r}")
        if op["op"] != "add":
            original = _resolve(before, op["path"])
            if original is not _MISSING:
                op["originalValue"] = original
    return ops


# --------------------------------------------------------------------------- public records


@dataclass
class PatchTruth:
    """What one patch finally in the log really recorded.

    ``before`` / ``after`` are the full JSON documents (:func:`to_json`, ``_id``,
    ``updatedAt`` and secrets included) just before and just after the save, gaps
    included; ``None`` before a creation and after a destroy. ``rewritten`` is true when
    the stored ``ops`` are no longer the plugin's full diff (cut down after a deletion,
    stripped by the legal-representatives cron). ``author`` is ``"young"``, the referent
    role, ``"script"`` (pseudo-user) or ``"none"`` (no ``user``)."""

    patch_id: str
    model: str
    ref: str
    date: dt.datetime
    is_creation: bool
    is_destroy: bool
    before: dict | None
    after: dict | None
    rewritten: bool = False
    author: str = "none"


@dataclass
class Batch:
    """Documents to write, per collection; the first batch holds ``cohorts`` and
    ``inscriptiongoals``, every following one a single young's whole life."""

    youngs: list[dict] = field(default_factory=list)
    young_patches: list[dict] = field(default_factory=list)
    applications: list[dict] = field(default_factory=list)
    application_patches: list[dict] = field(default_factory=list)
    inscriptiongoals: list[dict] = field(default_factory=list)
    cohorts: list[dict] = field(default_factory=list)
    truth: list[PatchTruth] = field(default_factory=list)
    personal_values: set[str] = field(default_factory=set)
    young_id: str | None = None
    deleted: bool = False
    pre_log: bool = False
    gaps: int = 0


@dataclass
class SeedStats:
    """Counts of what was generated (and written)."""

    youngs_generated: int = 0
    final_youngs: int = 0
    young_patches: int = 0
    applications: int = 0
    application_patches: int = 0
    inscriptiongoals: int = 0
    cohorts: int = 0
    gaps: int = 0
    deleted: int = 0
    destroy_patches: int = 0
    pre_log_youngs: int = 0
    rewritten_patches: int = 0
    seconds: float = 0.0

    @property
    def total_patches(self) -> int:
        return self.young_patches + self.application_patches

    def absorb(self, batch: Batch) -> None:
        """Add one batch's counts."""
        self.youngs_generated += batch.young_id is not None
        self.final_youngs += len(batch.youngs)
        self.young_patches += len(batch.young_patches)
        self.applications += len(batch.applications)
        self.application_patches += len(batch.application_patches)
        self.inscriptiongoals += len(batch.inscriptiongoals)
        self.cohorts += len(batch.cohorts)
        self.gaps += batch.gaps
        self.deleted += batch.deleted
        self.pre_log_youngs += batch.pre_log
        self.destroy_patches += sum(
            1 for p in batch.young_patches if p["ops"] and p["ops"][0]["op"] == "destroy"
        )


@dataclass
class SeedTruth(SeedStats):
    """The ground truth for tests: every patch finally in the log and what it recorded.

    ``personal_values``: every personal string generated (names, e-mails, phones, street
    addresses, birth cities, parents, free texts, tutor names, comments, tokens, CNI file
    names, exact birth dates as ``YYYY-MM-DD``), minus values that are also public
    vocabulary (department/region/académie/cohort names) or shorter than 3 characters.
    Compare whole string values against it, not substrings ("Martin" is in
    "Saint-Martin")."""

    patches: list[PatchTruth] = field(default_factory=list)
    personal_values: set[str] = field(default_factory=set)
    young_ids: set[str] = field(default_factory=set)
    deleted_young_ids: set[str] = field(default_factory=set)
    pre_log_young_ids: set[str] = field(default_factory=set)
    gap_young_ids: set[str] = field(default_factory=set)

    def absorb(self, batch: Batch) -> None:
        super().absorb(batch)
        self.patches.extend(batch.truth)
        self.rewritten_patches += sum(1 for p in batch.truth if p.rewritten)
        self.personal_values.update(v for v in batch.personal_values if _is_private(v))
        if batch.young_id is None:
            return
        target = self.deleted_young_ids if batch.deleted else self.young_ids
        target.add(batch.young_id)
        if batch.pre_log:
            self.pre_log_young_ids.add(batch.young_id)
        if batch.gaps:
            self.gap_young_ids.add(batch.young_id)

    def by_id(self) -> dict[str, PatchTruth]:
        """Truth of each patch by its hex id."""
        return {p.patch_id: p for p in self.patches}

    def of(self, ref: str) -> list[PatchTruth]:
        """Truth of a record's patches, in date order."""
        return sorted((p for p in self.patches if p.ref == ref), key=lambda p: p.date)


@dataclass
class SeedData:
    """Everything :func:`generate` yields, held in lists (small seeds, tests)."""

    youngs: list[dict]
    young_patches: list[dict]
    applications: list[dict]
    application_patches: list[dict]
    inscriptiongoals: list[dict]
    cohorts: list[dict]
    truth: SeedTruth


# --------------------------------------------------------------------------- helpers


def _ms(value: dt.datetime) -> dt.datetime:
    """Millisecond precision, as BSON dates and JS dates have."""
    return value.replace(microsecond=value.microsecond - value.microsecond % 1000)


def _paris(day: dt.date, seconds: float = 0.0) -> dt.datetime:
    """UTC instant of ``seconds`` after Paris midnight of ``day``."""
    local = dt.datetime(day.year, day.month, day.day, tzinfo=PARIS)
    return _ms((local + dt.timedelta(seconds=seconds)).astimezone(UTC))


def _stored_birth_date(day: dt.date) -> dt.datetime:
    """How production stores a picked birth date: mostly as Paris midnight (the day before,
    22:00 or 23:00 UTC), by older writers as UTC midnight; here one or the other by the
    day's parity (no draw from the random stream)."""
    zone = PARIS if day.day % 2 else UTC
    return dt.datetime(day.year, day.month, day.day, tzinfo=zone).astimezone(UTC)


def _local(value: dt.datetime) -> dt.datetime:
    return value.astimezone(PARIS)


def _ascii(text: str) -> str:
    plain = unicodedata.normalize("NFKD", text).encode("ascii", "ignore").decode()
    return "".join(c for c in plain.lower() if c.isalnum())


def _stable_hex(name: str, when: dt.datetime) -> str:
    """A stable 24-hex id (same whatever the seed): creation second + hash of the name."""
    digest = hashlib.md5(name.encode()).digest()[:8]
    return str(ObjectId(int(when.timestamp()).to_bytes(4, "big") + digest))


@functools.cache
def _public_words() -> frozenset[str]:
    """Department, region and académie names and codes: public vocabulary."""
    from snu_assets.core.reference.geography import departments

    words: set[str] = set()
    for d in departments():
        words.update((d.name, d.region, d.academy, d.code))
    return frozenset(words)


def _is_private(value: str) -> bool:
    """Worth a place in ``personal_values``: not a public word, 3 characters or more."""
    return isinstance(value, str) and len(value) >= 3 and value not in _public_words()


@dataclass(frozen=True)
class _Cohort:
    name: str
    cohort_id: str
    snu_id: str
    inscription_start: dt.datetime
    inscription_end: dt.datetime
    date_start: dt.datetime
    date_end: dt.datetime
    weight: float

    def doc(self) -> dict:
        return {
            "_id": ObjectId(self.cohort_id),
            "name": self.name,
            "snuId": self.snu_id,
            "inscriptionStartDate": self.inscription_start,
            "inscriptionEndDate": self.inscription_end,
            "dateStart": self.date_start,
            "dateEnd": self.date_end,
        }


def _make_cohort(name: str, open_day: dt.date, close_day: dt.date, stay: dt.date, weight: float):
    start = _paris(open_day)
    snu_id = _ascii(name.replace(" - ", "_")).upper()
    return _Cohort(
        name=name,
        cohort_id=_stable_hex(name, start - dt.timedelta(days=60)),
        snu_id=snu_id,
        inscription_start=start,
        inscription_end=_paris(close_day),
        date_start=_paris(stay),
        date_end=_paris(stay + dt.timedelta(days=11)),
        weight=weight,
    )


def _build_cohorts(start: dt.date, days: int) -> tuple[list[_Cohort], _Cohort]:
    """The current cohorts (inscription windows inside the period) and last year's one."""
    current = []
    for open_frac, close_frac, delay, suffix, weight in _COHORT_SPECS:
        open_d = int(open_frac * days)
        close_d = max(open_d + 1, min(days, round(close_frac * days)))
        stay = start + dt.timedelta(days=close_d + delay)
        name = f"{_FRENCH_MONTHS[stay.month - 1]} {stay.year}{suffix}"
        current.append(
            _make_cohort(
                name, start + dt.timedelta(open_d), start + dt.timedelta(close_d), stay, weight
            )  # fmt: skip
        )
    past_stay = dt.date(start.year - 1, 7, 1)
    past = _make_cohort(
        f"Juillet {past_stay.year}", past_stay - dt.timedelta(days=300),
        past_stay - dt.timedelta(days=40), past_stay, 1.0,
    )  # fmt: skip
    return current, past


# --------------------------------------------------------------------------- the world


class _World:
    """What every life shares: RNG, Faker, calendar, cohorts, departments, referents."""

    def __init__(self, seed, youngs, days, start, applications, collect_truth):
        from snu_assets.core.reference.geography import departments

        if days < 1 or youngs < 0:
            raise ValueError("days must be >= 1 and youngs >= 0")
        self.rng = random.Random(seed)
        self.fake = Faker("fr_FR")
        self.fake.seed_instance(seed)
        self.youngs = youngs
        self.days = days
        self.start_day = start
        self.start = _paris(start)
        self.end = _paris(start + dt.timedelta(days=days))
        self.legacy_until = legacy_until(start, days)
        self.applications = applications
        self.collect_truth = collect_truth
        self.cohorts, self.past_cohort = _build_cohorts(start, days)
        self.departments = departments()
        self._dept_cum = list(itertools.accumulate(_department_weight(d) for d in self.departments))
        self._day_weights = [self._day_weight(d) for d in range(days)]
        self._day_cum = list(itertools.accumulate(self._day_weights))
        self._referents: dict[tuple, list[dict]] = {}
        self._missions: dict[str, list[dict]] = {}
        self.sink: set[str] | None = None  # personal values of the life being generated

    # -- calendar -------------------------------------------------------------------

    def _day_weight(self, d: int) -> float:
        """Inscriptions per day: a launch peak, a rush before each close, quieter weekends."""
        day = self.start_day + dt.timedelta(days=d)
        weight = 1.0 + 1.5 * math.exp(-d / 12)
        for c in self.cohorts:
            close = (_local(c.inscription_end).date() - self.start_day).days
            if close - 7 <= d < close:
                weight += 1.2
        return weight * (0.75 if day.weekday() >= 5 else 1.0)

    def self_service_time(self, day: dt.date) -> dt.datetime:
        """A moment of a Paris day when applicants use the site (evenings, some at night)."""
        hour = bisect.bisect_right(_HOUR_CUM, self.rng.random() * _HOUR_CUM[-1])
        return _paris(day, hour * 3600 + self.rng.random() * 3600)

    def creation_time(self) -> dt.datetime:
        d = bisect.bisect_right(self._day_cum, self.rng.random() * self._day_cum[-1])
        return self.self_service_time(self.start_day + dt.timedelta(days=min(d, self.days - 1)))

    def later(self, t: dt.datetime, days: float) -> dt.datetime:
        """``days`` later, on a self-service hour of that Paris day."""
        target = _local(t + dt.timedelta(days=days)).date()
        moment = self.self_service_time(target)
        return moment if moment > t else _ms(t + dt.timedelta(minutes=1 + self.rng.random() * 60))

    def office_time(self, t: dt.datetime) -> dt.datetime:
        """The first office moment (Mon-Fri 08:30-18:30 Paris) at or after ``t``, plus a
        random delay: when referents act."""
        local = _local(t)
        day, minutes = local.date(), local.hour * 60 + local.minute
        if minutes > 17 * 60 + 30:
            day, minutes = day + dt.timedelta(days=1), 0
        while day.weekday() >= 5:
            day, minutes = day + dt.timedelta(days=1), 0
        first = max(minutes, 8 * 60 + 30)
        chosen = first + self.rng.random() * max(10.0, 18 * 60 + 30 - first)
        return max(_paris(day, chosen * 60 + self.rng.random() * 60), _ms(t))

    def cron_time(self, t: dt.datetime, hour: int) -> dt.datetime:
        """Next run of a nightly cron at ``hour`` Paris time after ``t``."""
        local = _local(t)
        day = local.date() + dt.timedelta(days=1 if local.hour >= hour else 0)
        return _paris(day, hour * 3600 + self.rng.random() * 600)

    # -- ids and people -------------------------------------------------------------

    def oid(self, when: dt.datetime, skew_hours: float = 0.0) -> ObjectId:
        """A production-like ObjectId: creation second (big-endian) + 8 seeded bytes."""
        seconds = int(when.timestamp() + skew_hours * 3600)
        return ObjectId(seconds.to_bytes(4, "big") + self.rng.getrandbits(64).to_bytes(8, "big"))

    def note(self, *values) -> None:
        """Remember personal values (for the no-leak tests)."""
        if self.sink is not None:
            self.sink.update(v for v in values if isinstance(v, str) and v)

    def email(self, first: str, last: str, domains=_EMAIL_DOMAINS) -> str:
        rng = self.rng
        local = rng.choice(
            (f"{_ascii(first)}.{_ascii(last)}", f"{_ascii(first)}{_ascii(last)}",
             f"{_ascii(first)[:1]}{_ascii(last)}", f"{_ascii(last)}.{_ascii(first)}")
        )  # fmt: skip
        if rng.random() < 0.8:
            local += str(rng.randint(1, 9999))
        return f"{local}@{rng.choice(domains)}"

    def phone(self) -> str:
        digits = "".join(str(self.rng.randint(0, 9)) for _ in range(8))
        return "0" + self.rng.choice("67") + digits

    def person(self, gender: str | None = None) -> tuple[str, str]:
        gender = gender or self.rng.choice(("female", "male"))
        first = self.fake.first_name_female() if gender == "female" else self.fake.first_name_male()
        return first, self.fake.last_name()

    def department(self):
        i = bisect.bisect_right(self._dept_cum, self.rng.random() * self._dept_cum[-1])
        return self.departments[min(i, len(self.departments) - 1)]

    def _staff(self, role: str, department=None, region: str | None = None) -> dict:
        first, last = self.person()
        domain = "jeunesse-sports.gouv.fr" if role != "responsible" else "asso-benevoles.fr"
        user = {"_id": self.oid(self.start - dt.timedelta(days=self.rng.randint(30, 900))),
                "role": role}  # fmt: skip
        if department is not None:
            user["department"] = department.name
        if region is not None:
            user["region"] = region
        user.update(email=self.email(first, last, (domain,)), firstName=first, lastName=last,
                    model="referent")  # fmt: skip
        self.note(first, last, user["email"])
        return user

    def referent(self, department) -> dict:
        """A referent acting on a young of ``department`` (sometimes impersonated)."""
        r = self.rng.random()
        key: tuple[str, ...]
        if r < 0.7:
            key, make = (
                ("department", department.name),
                lambda: self._staff("referent_department", department, department.region),
            )
        elif r < 0.9:
            key, make = (
                ("region", department.region),
                lambda: self._staff("referent_region", None, department.region),
            )
        else:
            key, make = ("admin",), lambda: self._staff("admin")
        pool = self._referents.setdefault(key, [])
        if len(pool) < 2:
            pool.append(make())
        user = dict(self.rng.choice(pool))
        if self.rng.random() < 0.04:
            user["impersonatedBy"] = self.admin()
        return user

    def admin(self) -> dict:
        pool = self._referents.setdefault(("admin",), [])
        if len(pool) < 2:
            pool.append(self._staff("admin"))
        return dict(self.rng.choice(pool))

    def mission(self, department) -> dict:
        """A phase 2 mission of the department (pool created lazily)."""
        pool = self._missions.setdefault(department.name, [])
        if len(pool) < 4:
            created = self.start - dt.timedelta(days=self.rng.randint(10, 200))
            tutor = self._staff("responsible", department, department.region)
            structure = f"{self.rng.choice(('Association', 'Mairie de', 'Club', 'Fondation'))} " \
                        f"{self.fake.last_name()}"  # fmt: skip
            pool.append({
                "missionId": str(self.oid(created)),
                "missionName": f"{self.rng.choice(_MISSION_THEMES)} - {structure}",
                "missionDepartment": department.name,
                "missionRegion": department.region,
                "structureId": str(self.oid(created)),
                "structureName": structure,
                "tutorId": str(tutor["_id"]),
                "tutorName": f"{tutor['firstName']} {tutor['lastName']}",
                "tutor": tutor,
            })  # fmt: skip
            self.note(pool[-1]["tutorName"])
        return self.rng.choice(pool)

    # -- cohorts and goals ----------------------------------------------------------

    def open_cohorts(self, t: dt.datetime) -> list[_Cohort]:
        opened = [c for c in self.cohorts if c.inscription_start <= t < c.inscription_end]
        return opened or [c for c in self.cohorts if c.inscription_start == self.start]

    def pick_cohort(self, t: dt.datetime, exclude: str | None = None) -> _Cohort | None:
        choices = [c for c in self.open_cohorts(t) if c.name != exclude]
        if not choices:
            return None
        return self.rng.choices(choices, weights=[c.weight for c in choices])[0]

    def open_cohort(self, t: dt.datetime) -> _Cohort:
        """:meth:`pick_cohort` where the calendar must have one open at ``t``."""
        cohort = self.pick_cohort(t)
        if cohort is None:
            raise ValueError(f"no cohort open for inscriptions at {t.isoformat()}")
        return cohort

    def cohort_shares(self) -> dict[str, float]:
        """Expected share of youngs per cohort (from the calendar, no randomness)."""
        shares = dict.fromkeys((c.name for c in self.cohorts), 0.0)
        total = sum(self._day_weights)
        for d, w in enumerate(self._day_weights):
            noon = _paris(self.start_day + dt.timedelta(days=d), 12 * 3600)
            opened = self.open_cohorts(noon)
            weights = sum(c.weight for c in opened)
            for c in opened:
                shares[c.name] += w / total * c.weight / weights
        return shares

    def goals(self) -> list[dict]:
        """inscriptiongoals: one per department x cohort, ``max`` ~ 1.2 x expected VALIDATED."""
        shares = self.cohort_shares()
        total = self._dept_cum[-1]
        created = self.start - dt.timedelta(days=30)
        docs = []
        for c in self.cohorts:
            for d, weight in zip(self.departments, map(_department_weight, self.departments)):
                expected = self.youngs * weight / total * shares[c.name] * 0.52
                docs.append({
                    "_id": self.oid(created), "department": d.name, "region": d.region,
                    "academy": d.academy, "cohort": c.name, "cohortId": c.cohort_id,
                    "max": max(1, math.ceil(1.2 * expected)), "createdAt": created,
                    "updatedAt": created, "__v": 0,
                })  # fmt: skip
        return docs


def legacy_until(start: dt.date = DEFAULT_START, days: int = 90) -> dt.datetime:
    """End of the older plugin configuration (:data:`LEGACY_YOUNG_EXCLUDES`): Paris
    midnight ``max(1, days // 6)`` days after ``start``. Young patches dated before it were
    diffed with the legacy excludes."""
    return _paris(start + dt.timedelta(days=max(1, days // 6)))


def young_excludes(date: dt.datetime, start: dt.date = DEFAULT_START, days: int = 90):
    """The young model's ``excludes`` in force at ``date``."""
    return LEGACY_YOUNG_EXCLUDES if date < legacy_until(start, days) else YOUNG_EXCLUDES


def _department_weight(d) -> float:
    if d.code in _COLLECTIVITIES:
        return 0.03
    if d.code in _BIG_DEPARTMENTS:
        return 4.0
    if d.code in _SMALL_DEPARTMENTS:
        return 0.3
    return 1.2


# --------------------------------------------------------------------------- records


class _Patch:
    """A patch document of a life, with its truth (when collected)."""

    __slots__ = ("doc", "truth", "date")

    def __init__(self, doc: dict, truth: PatchTruth | None):
        self.doc, self.truth, self.date = doc, truth, doc["date"]

    def rewrite(self, keep: Callable[[dict], bool]) -> bool:
        """Keep only the ops ``keep`` accepts; False when no op is left."""
        ops = [op for op in self.doc["ops"] if keep(op)]
        if len(ops) != len(self.doc["ops"]):
            self.doc["ops"] = ops
            if self.truth is not None:
                self.truth.rewritten = True
        return bool(ops)


def _author(user: dict | None) -> str:
    if user is None:
        return "none"
    if user.get("model") == "young":
        return "young"
    return user.get("role", "script")


class _Record:
    """One mongoose document with mongoose-patch-history attached.

    ``doc`` is the BSON document (datetimes, ObjectIds), ``jdoc`` its JSON form. Saves are
    copy-on-write: a save builds a new ``jdoc`` and replaces touched values by new
    objects, so an old ``jdoc`` is a faithful snapshot (the truth's before/after)."""

    def __init__(self, life: _YoungLife, model: str, sink: list[_Patch]):
        self.life, self.world, self.model, self.sink = life, life.world, model, sink
        self.doc: dict = {}
        self.jdoc: dict = {}

    @property
    def id(self) -> ObjectId:
        return self.doc["_id"]

    def excludes(self, at: dt.datetime) -> tuple[str, ...]:
        if self.model != "young":
            return APPLICATION_EXCLUDES
        return LEGACY_YOUNG_EXCLUDES if at < self.world.legacy_until else YOUNG_EXCLUDES

    def create(self, doc: dict, at: dt.datetime, user: dict | None) -> None:
        """``Model.create``: the creation patch has one ``add`` per top-level field."""
        self.doc, self.jdoc = doc, to_json(doc)
        self._emit(at, user, plugin_ops({}, self.jdoc, self.excludes(at)), None, self.jdoc)

    def save(self, at: dt.datetime, user: dict | None, changes: dict | None = None,
             unset: Iterable[str] = ()) -> bool:  # fmt: skip
        """``doc.save()``: apply, bump ``updatedAt`` (pre-save hook), patch if ops remain."""
        before, after = self._apply(changes or {}, unset)
        self.doc["updatedAt"] = at
        after["updatedAt"] = iso(at)
        touched = [*(changes or {}), *unset]
        ops = plugin_ops(before, after, self.excludes(at), touched)
        if not ops:
            return False
        self._emit(at, user, ops, before, after)
        return True

    def raw_update(self, changes: dict) -> None:
        """A raw ``updateOne`` / migration: the document changes, the log does not."""
        self._apply(changes, ())
        self.life.gaps += 1

    def _apply(self, changes: dict, unset: Iterable[str]) -> tuple[dict, dict]:
        before = self.jdoc
        after = dict(before)
        for key, value in changes.items():
            self.doc[key] = value
            after[key] = to_json(value)
        for key in unset:
            self.doc.pop(key, None)
            after.pop(key, None)
        self.jdoc = after
        return before, after

    def _emit(self, at, user, ops, before, after, destroy: bool = False) -> None:
        world = self.world
        skew = 0.0
        if world.rng.random() < 0.003:  # clock skew: the id's second disagrees by hours
            skew = world.rng.choice((-1, 1)) * world.rng.uniform(1, 6)
        doc = {"_id": world.oid(at, skew), "__v": 0, "ref": self.id, "modelName": self.model,
               "date": at}  # fmt: skip
        if self.model == "young" and not destroy and "cohortId" in self.doc:
            doc["cohortId"] = self.doc["cohortId"]
        if user is not None:
            doc["user"] = dict(user)
        doc["ops"] = ops
        truth = None
        if world.collect_truth:
            truth = PatchTruth(
                patch_id=str(doc["_id"]), model=self.model, ref=str(self.id), date=at,
                is_creation=before is None, is_destroy=destroy, before=before,
                after=after, author=_author(user),
            )  # fmt: skip
        self.sink.append(_Patch(doc, truth))

    def destroy(self, at: dt.datetime) -> None:
        """Another writer's marker of a deletion (no ``user``, no ``cohortId``)."""
        ops = [{"op": "destroy", "path": "/", "value": "deleted"}]
        self._emit(at, None, ops, self.jdoc, None, destroy=True)


# --------------------------------------------------------------------------- a young's life


class _YoungLife:
    """One young's whole life over the period, as a small discrete-event simulation.

    Actions are scheduled on a heap and run in time order; the simulation stops at the
    end of the period ("now"). Every action re-checks the state it needs (a withdrawal,
    a migration or a cohort change can happen in between)."""

    def __init__(self, world: _World):
        self.world, self.rng, self.fake = world, world.rng, world.fake
        self.young_patches: list[_Patch] = []
        self.app_patches: list[_Patch] = []
        self.young = _Record(self, "young", self.young_patches)
        self.apps: list[_Record] = []
        self.queue: list = []
        self.counter = itertools.count()
        self.now = dt.datetime.min.replace(tzinfo=UTC)
        self.gaps = 0
        self.deleted = self.pre_log = False
        self.corrections = 0
        #: the young's department: set by :meth:`new_young`, the first step of every life
        self.dept: Department = None  # type: ignore[assignment]

    # -- scheduling -----------------------------------------------------------------

    def at(self, when: dt.datetime, action: Callable, *args) -> None:
        """Schedule ``action(when, *args)`` (never in the past, never after the period)."""
        when = max(when, self.now)
        if when < self.world.end:
            heapq.heappush(self.queue, (when, next(self.counter), action, args))

    def run(self) -> None:
        while self.queue and not self.deleted:
            when, _, action, args = heapq.heappop(self.queue)
            self.now = when
            action(when, *args)

    # -- shortcuts ------------------------------------------------------------------

    @property
    def d(self) -> dict:
        return self.young.doc

    def status(self) -> str:
        return self.d["status"]

    def me(self) -> dict:
        """The young as ``user`` of their own saves (sometimes impersonated by an admin)."""
        d = self.d
        user = {"_id": d["_id"], "firstName": d["firstName"], "lastName": d["lastName"],
                "email": d["email"], "model": "young"}  # fmt: skip
        if self.rng.random() < 0.02:
            user["impersonatedBy"] = self.world.admin()
        return user

    def referent(self) -> dict:
        return self.world.referent(self.dept)

    def status_change(self, t: dt.datetime, status: str, **more) -> dict:
        return {"status": status, "lastStatusAt": t, **more}

    def soon(self, t: dt.datetime, min_s: float, max_s: float) -> dt.datetime:
        return _ms(t + dt.timedelta(seconds=self.rng.uniform(min_s, max_s)))

    # -- the life -------------------------------------------------------------------

    def live(self) -> Batch:
        world, rng = self.world, self.rng
        sink: set[str] = set()
        world.sink = sink if world.collect_truth else None
        when = world.creation_time()
        kind = rng.random()
        if kind < 0.025:  # last year's applicant, re-registering: no creation in the log
            self.pre_log = True
            self.past_life(alumni=False)
            self.at(when, self.reinscribe)
        elif kind < 0.075:  # last year's volunteer, phase 1 done, now in phase 2
            self.pre_log = True
            self.past_life(alumni=True)
            if world.applications:
                self.at(when, self.apply, self.rng.choice((1, 1, 2, 2, 3)))
        elif kind < 0.1:  # created before the log starts
            self.pre_log = True
            day = world.start_day - dt.timedelta(days=rng.randint(1, 20))
            self.create(world.self_service_time(day))
        else:
            self.create(when)
        self.schedule_side_stories(when)
        self.run()
        return self.finish(sink)

    def schedule_side_stories(self, t0: dt.datetime) -> None:
        """Edits and incidents independent of the inscription funnel."""
        rng, world = self.rng, self.world
        span = max(60.0, (world.end - t0).total_seconds())

        def some_time(min_delay_s: float = 3600.0) -> dt.datetime:
            return _ms(t0 + dt.timedelta(seconds=min_delay_s + rng.random() * span))

        edits = rng.choices((0, 1, 2, 3, 4), weights=(30, 33, 20, 11, 6))[0]
        for _ in range(edits):
            self.at(some_time(), self.personal_edit)
        if rng.random() < 0.05:
            self.at(some_time(86400), self.withdraw)
        if rng.random() < 0.08:
            self.at(some_time(), self.password_reset)
        if rng.random() < 0.05:
            self.at(some_time(86400), self.change_cohort)
        if rng.random() < 0.06:
            self.at(some_time(), self.migration)
        if rng.random() < 0.05:
            self.at(world.cron_time(some_time(86400), 3), self.cron_legal_representatives)
        if rng.random() < 0.025:
            self.at(some_time(2 * 86400), self.delete)

    # -- creation and the inscription funnel -----------------------------------------

    def new_young(self, t: dt.datetime, cohort: _Cohort) -> dict:
        """The document ``Young.create`` saves: the first form plus the schema defaults."""
        world, rng = self.world, self.rng
        gender = "female" if rng.random() < 0.52 else "male"
        first, last = world.person(gender)
        age = rng.choices(list(_AGE_WEIGHTS), weights=list(_AGE_WEIGHTS.values()))[0]
        birth = _birthdate(rng, _local(t).date(), age)
        self.dept = dept = world.department()
        schooled = rng.random() < 0.92
        source = "CLE" if rng.random() < 0.1 else "VOLONTAIRE"
        email = world.email(first, last)
        doc = {
            "_id": world.oid(t), "firstName": first, "lastName": last, "email": email,
            "phone": world.phone(), "phoneZone": "FRANCE",
            "birthdateAt": _stored_birth_date(birth),
            "gender": gender, "frenchNationality": "true", "source": source,
            "cohort": cohort.name, "cohortId": cohort.cohort_id,
        }  # fmt: skip
        if source == "CLE":
            doc["classeId"] = str(world.oid(t - dt.timedelta(days=90)))
            doc["etablissementId"] = str(world.oid(t - dt.timedelta(days=200)))
        doc.update(self.schooling(schooled, age, dept))
        doc.update({
            "zip": _zip(rng, dept.code), "department": dept.name, "region": dept.region,
            "academy": dept.academy, "qpv": "true" if rng.random() < 0.08 else "false",
            "populationDensity": rng.choices(_DENSITIES, weights=_DENSITY_WEIGHTS)[0],
            "isRegionRural": "true" if rng.random() < 0.18 else "false",
            "status": "IN_PROGRESS", "statusPhase1": "WAITING_AFFECTATION",
            "statusPhase2": "WAITING_REALISATION", "statusPhase3": "WAITING_REALISATION",
            "phase": "INSCRIPTION", "inscriptionStep2023": "EMAIL_WAITING_VALIDATION",
            "emailVerified": "false", "acceptCGU": "true", "consentment": "false",
            "hasStartedReinscription": "false", "files": {"cniFiles": []}, "notes": [],
            "correctionRequests": [], "lastStatusAt": t, "createdAt": t, "updatedAt": t,
            "lastLoginAt": t, "password": _bcrypt(rng),
            "tokenEmailValidation": f"{rng.getrandbits(128):032x}", "__v": 0,
        })  # fmt: skip
        world.note(first, last, email, doc["phone"], birth.isoformat(), doc["password"],
                   doc["tokenEmailValidation"], doc.get("schoolName"),
                   doc.get("schoolAddress"))  # fmt: skip
        return doc

    def schooling(self, schooled: bool, age: int, dept) -> dict:
        rng, fake = self.rng, self.fake
        if not schooled:
            return {"schooled": "false", "grade": "NOT_SCOLARISE",
                    "situation": rng.choice(_NOT_SCHOOLED_SITUATIONS)}  # fmt: skip
        grade = rng.choice(_GRADE_BY_AGE[age])
        if grade in _SCHOOL_BY_GRADE:
            school_type, prefix, situation = *_SCHOOL_BY_GRADE[grade], "GENERAL_SCHOOL"
        elif "Pro" in grade or "CAP" in grade:
            school_type, prefix = _PRO_SCHOOL if rng.random() < 0.85 else _AGRI_SCHOOL
            situation = "PROFESSIONAL_SCHOOL"
        else:
            school_type, prefix = _GT_SCHOOL if rng.random() < 0.95 else _AGRI_SCHOOL
            situation = "GENERAL_SCHOOL"
        return {
            "schooled": "true", "situation": situation, "grade": grade,
            "schoolType": school_type,
            "schoolName": f"{prefix} {fake.first_name()} {fake.last_name()}",
            "schoolAddress": fake.street_address(), "schoolCity": fake.city(),
            "schoolZip": _zip(rng, dept.code), "schoolDepartment": dept.name,
        }  # fmt: skip

    def create(self, t: dt.datetime, cohort: _Cohort | None = None) -> None:
        """Step 1: the account (creation patch by the young), then the funnel."""
        cohort = cohort or self.world.open_cohort(t)
        doc = self.new_young(t, cohort)
        me = {"_id": doc["_id"], "firstName": doc["firstName"], "lastName": doc["lastName"],
              "email": doc["email"], "model": "young"}  # fmt: skip
        self.young.create(doc, t, me)
        self.at(self.world.cron_time(cohort.inscription_end, 4), self.abandon_if_stuck,
                cohort.cohort_id)  # fmt: skip
        if self.rng.random() < 0.97:
            self.at(self.soon(t, 40, 1800), self.funnel, 0)

    #: the inscription steps after the account: (probability to go on, delay in seconds)
    _STEPS = ((0.95, (60, 1200)), (0.95, (30, 900)), (0.92, (300, 3 * 86400)))

    def funnel(self, t: dt.datetime, step: int) -> None:
        """Email validation -> coordinates -> legal representatives -> documents ->
        completed (WAITING_VALIDATION)."""
        if self.status() != "IN_PROGRESS":
            return
        (self.validate_email, self.coordinates, self.representatives, self.documents)[step](t)
        if step == 3:
            # the upload and the completion are two saves, often within the same second
            done = self.soon(t, 0.05, 0.9) if self.rng.random() < 0.5 else self.soon(t, 1, 90)
            self.at(done, self.complete)
            return
        go_on, (low, high) = self._STEPS[step]
        if self.rng.random() < go_on:
            self.at(self.soon(t, low, high), self.funnel, step + 1)

    def validate_email(self, t: dt.datetime) -> None:
        changes = {"emailVerified": "true", "inscriptionStep2023": "COORDONNEES", "lastLoginAt": t}
        self.young.save(t, self.me(), changes, unset=("tokenEmailValidation",))

    def coordinates(self, t: dt.datetime) -> None:
        world, rng, fake = self.world, self.rng, self.fake
        born_abroad = rng.random() < 0.05
        changes = {
            "birthCountry": fake.country() if born_abroad else "France",
            "birthCity": fake.city(), "birthCityZip": _zip(rng, world.department().code),
            **self.address(),
            "handicap": _flag(rng, 0.06), "allergies": _flag(rng, 0.1),
            "ppsBeneficiary": _flag(rng, 0.03), "paiBeneficiary": _flag(rng, 0.05),
            "specificAmenagment": _flag(rng, 0.04), "reducedMobilityAccess": _flag(rng, 0.01),
            "motivations": fake.sentence(nb_words=14),
            "inscriptionStep2023": "CONSENTEMENTS",
        }  # fmt: skip
        if changes["specificAmenagment"] == "true":
            changes["specificAmenagmentType"] = fake.sentence(nb_words=6)
        world.note(changes["birthCity"], changes["motivations"],
                   changes.get("specificAmenagmentType"))  # fmt: skip
        if born_abroad:
            world.note(changes["birthCountry"])
        self.young.save(t, self.me(), changes)

    def address(self) -> dict:
        """A new postal address in the young's department, with its geolocation."""
        rng, fake = self.rng, self.fake
        values = {
            "address": fake.street_address(), "zip": _zip(rng, self.dept.code),
            "city": fake.city(), "cityCode": _zip(rng, self.dept.code),
            "location": {"lat": round(rng.uniform(42.4, 51.0), 6),
                         "lon": round(rng.uniform(-4.6, 8.1), 6)},
        }  # fmt: skip
        self.world.note(values["address"], values["city"])
        return values

    def representatives(self, t: dt.datetime) -> None:
        changes = {**self.parent(1), "consentment": "true", "inscriptionStep2023": "DOCUMENTS"}
        if self.rng.random() < 0.4:
            changes.update(self.parent(2))
        self.young.save(t, self.me(), changes)

    def parent(self, n: int) -> dict:
        world, rng = self.world, self.rng
        status = rng.choices(("mother", "father", "representant"), weights=(6, 3, 1))[0]
        first, last = world.person("male" if status == "father" else "female")
        if rng.random() < 0.7:
            last = self.d["lastName"]
        values = {f"parent{n}Status": status, f"parent{n}FirstName": first,
                  f"parent{n}LastName": last, f"parent{n}Email": world.email(first, last),
                  f"parent{n}Phone": world.phone(), f"parent{n}PhoneZone": "FRANCE",
                  f"parent{n}OwnAddress": "false"}  # fmt: skip
        world.note(first, last, values[f"parent{n}Email"], values[f"parent{n}Phone"])
        return values

    def cni_file(self, t: dt.datetime) -> dict:
        """``files`` with one more identity document (``add /files/cniFiles/N``)."""
        rng = self.rng
        expires = dt.datetime(_local(t).year + rng.randint(1, 9), rng.randint(1, 12),
                              rng.randint(1, 28), tzinfo=UTC)  # fmt: skip
        name = f"{_ascii(self.d['lastName'])}_cni.pdf"
        item = {"_id": self.world.oid(t), "name": name, "uploadedAt": t,
                "size": rng.randint(80_000, 4_000_000), "mimetype": "application/pdf",
                "category": "cniNew", "expirationDate": expires}  # fmt: skip
        self.world.note(name)
        files = self.d["files"]
        return {
            "files": {**files, "cniFiles": [*files["cniFiles"], item]},
            "latestCNIFileExpirationDate": expires, "latestCNIFileCategory": "cniNew",
        }  # fmt: skip

    def documents(self, t: dt.datetime) -> None:
        self.young.save(t, self.me(), {**self.cni_file(t), "inscriptionStep2023": "DONE"})

    def complete(self, t: dt.datetime) -> None:
        """Inscription completed: WAITING_VALIDATION, then a referent will process it."""
        if self.status() not in ("IN_PROGRESS", "REINSCRIPTION"):
            return
        self.young.save(t, self.me(), self.status_change(
            t, "WAITING_VALIDATION", inscriptionDoneDate=t, parentAllowSNU="true",
            parent1AllowSNU="true", parent1ValidationDate=t))  # fmt: skip
        if self.rng.random() < 0.93:
            self.schedule_processing(t)

    def schedule_processing(self, t: dt.datetime) -> None:
        delay = min(25.0, self.rng.expovariate(1 / 6))
        self.at(self.world.office_time(t + dt.timedelta(days=delay)), self.process)

    def abandon_if_stuck(self, t: dt.datetime, cohort_id: str) -> None:
        """The night after the close of the cohort, unfinished inscriptions are abandoned:
        by a cron (pseudo-user or no user), by a raw update (gap), or left as they are."""
        if self.status() != "IN_PROGRESS" or self.d["cohortId"] != cohort_id:
            return
        r = self.rng.random()
        when = t
        if r < 0.35:
            self.young.save(when, _CRON_ABANDON, self.status_change(when, "ABANDONED"))
        elif r < 0.55:
            self.young.save(when, None, self.status_change(when, "ABANDONED"))
        elif r < 0.7:
            self.young.raw_update(self.status_change(when, "ABANDONED"))

    # -- processing by referents ----------------------------------------------------

    def process(self, t: dt.datetime) -> None:
        """A referent's decision on a completed inscription."""
        if self.status() != "WAITING_VALIDATION":
            return
        rng = self.rng
        r = rng.random()
        if r < 0.64:
            self.validate(t, self.referent())
        elif r < 0.80 and self.corrections < 2:
            self.ask_correction(t)
        elif r < 0.90:
            message = self.fake.sentence(nb_words=10)
            self.world.note(message)
            self.young.save(t, self.referent(), self.status_change(
                t, "REFUSED", inscriptionRefusedMessage=message))  # fmt: skip
        else:
            self.young.save(t, self.referent(), self.status_change(t, "WAITING_LIST"))
            if rng.random() < 0.4:
                later = t + dt.timedelta(days=rng.uniform(5, 30))
                self.at(self.world.office_time(later), self.leave_waiting_list)

    def validate(self, t: dt.datetime, user: dict | None) -> None:
        self.young.save(t, user, self.status_change(t, "VALIDATED", phase="COHESION_STAY"))
        self.schedule_affectation(t)

    def leave_waiting_list(self, t: dt.datetime) -> None:
        if self.status() == "WAITING_LIST":
            user = _SCRIPT_WAITING_LIST if self.rng.random() < 0.3 else self.referent()
            self.validate(t, user)

    def ask_correction(self, t: dt.datetime) -> None:
        rng = self.rng
        self.corrections += 1
        message = self.fake.sentence(nb_words=9)
        self.world.note(message)
        request = {"_id": self.world.oid(t), "moderatorId": str(self.world.oid(t)),
                   "cohort": self.d["cohort"], "field": rng.choice(_CORRECTION_FIELDS),
                   "reason": rng.choice(("UNREADABLE", "MISSING_FRONT", "OTHER")),
                   "message": message, "status": "SENT", "sentAt": t}  # fmt: skip
        self.young.save(
            t,
            self.referent(),
            self.status_change(
                t, "WAITING_CORRECTION", correctionRequests=[*self.d["correctionRequests"], request]
            ),
        )
        if rng.random() < 0.8:
            self.at(self.world.later(t, rng.uniform(0.2, 10)), self.correct)

    def correct(self, t: dt.datetime) -> None:
        """The young fixes what was asked (nested ``replace`` on the request) and resubmits."""
        if self.status() != "WAITING_CORRECTION":
            return
        requests = [dict(r) for r in self.d["correctionRequests"]]
        request = requests[-1]
        request.update(status="CORRECTED", correctedAt=t)
        fixes = {"address": self.address, "birthCity": lambda: {"birthCity": self.fake.city()},
                 "phone": lambda: {"phone": self.world.phone()}}  # fmt: skip
        if "parent1FirstName" in self.d:  # (the cron may have removed the parents)
            fixes["parent1Email"] = lambda: {"parent1Email": self.world.email(
                self.d["parent1FirstName"], self.d["parent1LastName"])}  # fmt: skip
        fix = fixes.get(request["field"], lambda: self.cni_file(t))()
        self.world.note(*(v for v in fix.values() if isinstance(v, str)))
        self.young.save(t, self.me(), {**fix, "correctionRequests": requests,
                                       **self.status_change(t, "WAITING_VALIDATION")})  # fmt: skip
        self.schedule_processing(t)

    # -- phase 1 ----------------------------------------------------------------------

    def cohort(self) -> _Cohort:
        world = self.world
        for c in (*world.cohorts, world.past_cohort):
            if c.cohort_id == self.d["cohortId"]:
                return c
        raise LookupError(self.d["cohortId"])

    def schedule_affectation(self, t: dt.datetime) -> None:
        cohort = self.cohort()
        when = cohort.date_start - dt.timedelta(days=self.rng.uniform(7, 25))
        self.at(self.world.office_time(max(when, t)), self.affect, cohort.cohort_id)

    def affect(self, t: dt.datetime, cohort_id: str) -> None:
        """Phase 1 assignment to a stay, by the assignment script or an admin."""
        d = self.d
        if d["status"] != "VALIDATED" or d["cohortId"] != cohort_id:
            return
        if d["statusPhase1"] != "WAITING_AFFECTATION":
            return
        if t >= self.cohort().date_start - dt.timedelta(days=1):
            return  # validated too late for this stay
        rng, world = self.rng, self.world
        user = _SCRIPT_AFFECTATION if rng.random() < 0.5 else world.admin()
        if rng.random() < 0.08:
            self.young.save(t, user, {"statusPhase1": "WAITING_LIST"})
            return
        self.young.save(t, user, {
            "statusPhase1": "AFFECTED",
            "sessionPhase1Id": str(world.oid(t - dt.timedelta(days=40))),
            "cohesionCenterId": str(world.oid(t - dt.timedelta(days=300))),
        })  # fmt: skip
        self.at(world.later(t, rng.uniform(0.5, 6)), self.confirm_stay, cohort_id)
        cohort = self.cohort()
        first_day = world.office_time(cohort.date_start + dt.timedelta(days=1))
        self.at(first_day, self.presence, cohort_id)

    def confirm_stay(self, t: dt.datetime, cohort_id: str) -> None:
        if self.d["statusPhase1"] == "AFFECTED" and self.d["cohortId"] == cohort_id:
            self.young.save(t, self.me(), {"youngPhase1Agreement": "true",
                                           "meetingPointId": str(self.world.oid(t)),
                                           "hasMeetingInformation": "true"})  # fmt: skip

    def presence(self, t: dt.datetime, cohort_id: str) -> None:
        if self.d["statusPhase1"] != "AFFECTED" or self.d["cohortId"] != cohort_id:
            return
        present = self.rng.random() < 0.93
        self.young.save(t, self.referent(), {"cohesionStayPresence": _flag_of(present)})
        end = self.cohort().date_end + dt.timedelta(days=self.rng.uniform(0.3, 4))
        self.at(self.world.office_time(end), self.end_of_stay, cohort_id)

    def end_of_stay(self, t: dt.datetime, cohort_id: str) -> None:
        d = self.d
        if d["statusPhase1"] != "AFFECTED" or d["cohortId"] != cohort_id:
            return
        done = d.get("cohesionStayPresence") == "true" and self.rng.random() < 0.95
        user = _CRON_PHASE1 if self.rng.random() < 0.6 else self.referent()
        if done:
            self.young.save(t, user, {"statusPhase1": "DONE", "phase": "INTEREST_MISSION",
                                      "statusPhase1ValidatedAt": t})  # fmt: skip
            if self.world.applications and self.rng.random() < 0.6:
                count = self.rng.choice((1, 1, 1, 2, 2, 3))
                self.at(self.world.later(t, self.rng.uniform(1, 25)), self.apply, count)
        else:
            self.young.save(t, user, {"statusPhase1": "NOT_DONE"})

    # -- phase 2: applications --------------------------------------------------------

    def apply(self, t: dt.datetime, remaining: int) -> None:
        """A mission application (creation patch by the young, or a referent's proposal)."""
        d = self.d
        if d["status"] != "VALIDATED" or d["statusPhase1"] != "DONE":
            return
        world, rng = self.world, self.rng
        mission = world.mission(self.dept)
        proposed = rng.random() < 0.1
        app = _Record(self, "application", self.app_patches)
        doc = {
            "_id": world.oid(t), "youngId": str(d["_id"]), "youngFirstName": d["firstName"],
            "youngLastName": d["lastName"], "youngEmail": d["email"],
            "youngBirthdateAt": d["birthdateAt"], "youngCity": d.get("city", ""),
            "youngDepartment": d["department"], "youngCohort": d["cohort"],
            **{k: v for k, v in mission.items() if k != "tutor"},
            "status": "WAITING_ACCEPTATION" if proposed else "WAITING_VALIDATION",
            "priority": str(len(self.apps) + 1), "isJvaMission": "false",
            "createdAt": t, "updatedAt": t, "__v": 0,
        }  # fmt: skip
        app.create(doc, t, self.referent() if proposed else self.me())
        self.apps.append(app)
        tutor = mission["tutor"]
        if proposed:
            self.at(world.later(t, rng.uniform(0.3, 6)), self.answer_proposal, app, tutor)
        else:
            self.schedule_decision(t, app, tutor)
        if remaining > 1:
            self.at(world.later(t, rng.uniform(0.1, 10)), self.apply, remaining - 1)

    def schedule_decision(self, t: dt.datetime, app: _Record, tutor: dict) -> None:
        when = self.world.office_time(t + dt.timedelta(days=self.rng.expovariate(1 / 4)))
        self.at(when, self.structure_decision, app, tutor)

    def comment(self) -> str:
        text = self.fake.sentence(nb_words=8)
        self.world.note(text)
        return text

    def answer_proposal(self, t: dt.datetime, app: _Record, tutor: dict) -> None:
        if app.doc["status"] != "WAITING_ACCEPTATION":
            return
        if self.rng.random() < 0.75:
            app.save(t, self.me(), {"status": "WAITING_VALIDATION"})
            self.schedule_decision(t, app, tutor)
        else:
            app.save(t, self.me(), {"status": "CANCEL", "statusComment": self.comment()})

    def structure_decision(self, t: dt.datetime, app: _Record, tutor: dict) -> None:
        if app.doc["status"] != "WAITING_VALIDATION":
            return
        r = self.rng.random()
        if r < 0.55:
            app.save(t, dict(tutor), {"status": "VALIDATED"})
            if self.d["statusPhase2"] == "WAITING_REALISATION":
                self.young.save(t, dict(tutor), {"statusPhase2": "IN_PROGRESS"})
            start = t + dt.timedelta(days=self.rng.uniform(2, 20))
            self.at(self.world.office_time(start), self.mission_start, app, tutor)
        elif r < 0.8:
            app.save(t, dict(tutor), {"status": "REFUSED", "statusComment": self.comment()})
        elif r < 0.9:
            self.at(self.world.later(t, 0.2), self.cancel_application, app)

    def cancel_application(self, t: dt.datetime, app: _Record) -> None:
        if app.doc["status"] == "WAITING_VALIDATION":
            app.save(t, self.me(), {"status": "CANCEL", "statusComment": self.comment()})

    def mission_start(self, t: dt.datetime, app: _Record, tutor: dict) -> None:
        if app.doc["status"] != "VALIDATED":
            return
        user = dict(tutor) if self.rng.random() < 0.6 else _CRON_MISSIONS
        app.save(t, user, {"status": "IN_PROGRESS"})
        end = t + dt.timedelta(days=self.rng.uniform(5, 30))
        self.at(self.world.office_time(end), self.mission_end, app, tutor)

    def mission_end(self, t: dt.datetime, app: _Record, tutor: dict) -> None:
        if app.doc["status"] != "IN_PROGRESS":
            return
        if self.rng.random() < 0.78:
            hours = str(self.rng.randint(84, 120))
            app.save(t, dict(tutor), {"status": "DONE", "missionDuration": hours})
            if self.d["statusPhase2"] != "VALIDATED" and self.rng.random() < 0.7:
                self.young.save(t, dict(tutor), {"statusPhase2": "VALIDATED"})
        else:
            app.save(t, dict(tutor), {"status": "ABANDON", "statusComment": self.comment()})

    # -- side stories ---------------------------------------------------------------

    def personal_edit(self, t: dt.datetime) -> None:
        """An edit of personal data: by the young (often), a referent (notes, fixes)."""
        rng, world, d = self.rng, self.world, self.d
        kind = rng.choices(("email", "phone", "address", "parent", "cni", "note", "fix"),
                           weights=(2, 3, 3, 2, 1, 1, 1))[0]  # fmt: skip
        if kind == "email":
            new = world.email(d["firstName"], d["lastName"])
            world.note(new)
            self.young.save(t, self.me(), {"newEmail": new})
            self.at(self.soon(t, 20, 1200), self.confirm_email)
        elif kind == "phone":
            phone = world.phone()
            world.note(phone)
            self.young.save(t, self.me(), {"phone": phone})
            if rng.random() < 0.35:  # a double submit: a second save within the same second
                self.at(self.soon(t, 0.01, 0.5), self.second_save)
        elif kind == "address":
            self.young.save(t, self.me(), self.address())
        elif kind == "parent" and "parent1FirstName" in d:
            email = world.email(d["parent1FirstName"], d["parent1LastName"])
            phone = world.phone()
            world.note(email, phone)
            self.young.save(t, self.me(), {"parent1Email": email, "parent1Phone": phone})
        elif kind == "cni" and d.get("inscriptionStep2023") == "DONE":
            self.young.save(t, self.me(), self.cni_file(t))
        elif kind in ("note", "fix"):
            self.at(world.office_time(t), self.referent_edit, kind)

    def referent_edit(self, t: dt.datetime, kind: str) -> None:
        """A referent writes a note (``add /notes/N``) or fixes a spelling."""
        world, d = self.world, self.d
        if kind == "note":
            referent = self.referent()
            note = {"_id": world.oid(t), "phase": "INSCRIPTION", "note": self.comment(),
                    "referent": {"_id": str(referent["_id"]), "firstName": referent["firstName"],
                                 "lastName": referent["lastName"], "role": referent["role"]},
                    "createdAt": t, "updatedAt": t}  # fmt: skip
            self.young.save(t, referent, {"notes": [*d["notes"], note]})
        else:
            last = self.fake.last_name()
            world.note(last)
            self.young.save(t, self.referent(), {"lastName": last})

    def confirm_email(self, t: dt.datetime) -> None:
        if "newEmail" in self.d:
            self.young.save(t, self.me(), {"email": self.d["newEmail"]}, unset=("newEmail",))

    def second_save(self, t: dt.datetime) -> None:
        """The second save of a double submit, within the same second as the first."""
        mobility = _flag(self.rng, 0.5)
        changes = {"phoneZone": "FRANCE", "mobilityNearHome": mobility, "lastLoginAt": t}
        self.young.save(t, self.me(), changes)

    def password_reset(self, t: dt.datetime) -> None:
        """Forgotten password: a token, then a new password. Only auth fields change, so
        the patches exist only while the older (legacy) excludes were in force, and then
        hold the token in clear. The request is anonymous (no ``user``)."""
        token = f"{self.rng.getrandbits(128):032x}"
        self.world.note(token)
        expires = t + dt.timedelta(hours=1)
        self.young.save(t, None, {"forgotPasswordResetToken": token,
                                  "forgotPasswordResetExpires": expires})  # fmt: skip
        self.at(self.soon(t, 60, 2400), self.new_password)

    def new_password(self, t: dt.datetime) -> None:
        password = _bcrypt(self.rng)
        self.world.note(password)
        unset = ("forgotPasswordResetToken", "forgotPasswordResetExpires")
        self.young.save(t, None, {"password": password, "passwordChangedAt": t}, unset=unset)

    def withdraw(self, t: dt.datetime) -> None:
        d = self.d
        if d["status"] in ("WITHDRAWN", "REFUSED", "ABANDONED", "NOT_ELIGIBLE"):
            return
        if d["statusPhase1"] in ("DONE", "NOT_DONE"):
            return
        message = self.comment()
        reason = self.rng.choice(_WITHDRAWN_REASONS)
        changes = self.status_change(t, "WITHDRAWN", withdrawnReason=reason,
                                     withdrawnMessage=message)  # fmt: skip
        if d["status"] == "VALIDATED":
            changes["statusPhase1"] = "WITHDRAWN"
        self.young.save(t, self.me() if self.rng.random() < 0.9 else self.referent(), changes)

    def change_cohort(self, t: dt.datetime) -> None:
        """The young moves to another open cohort (``cohort`` + ``cohortId`` change)."""
        d = self.d
        if d["status"] not in ("IN_PROGRESS", "WAITING_VALIDATION", "VALIDATED", "WAITING_LIST"):
            return
        if d["statusPhase1"] != "WAITING_AFFECTATION":
            return
        cohort = self.world.pick_cohort(t, exclude=d["cohort"])
        if cohort is None or cohort.date_start <= t + dt.timedelta(days=15):
            return
        reason = self.comment()
        self.young.save(t, self.me(), {
            "cohort": cohort.name, "cohortId": cohort.cohort_id,
            "cohortChangeReason": self.rng.choice(_COHORT_CHANGE_REASONS),
            "cohortDetailedChangeReason": reason, "originalCohort": d["cohort"],
        })  # fmt: skip
        self.follow_cohort(t, cohort)

    def follow_cohort(self, t: dt.datetime, cohort: _Cohort) -> None:
        self.at(self.world.cron_time(max(cohort.inscription_end, t), 4), self.abandon_if_stuck,
                cohort.cohort_id)  # fmt: skip
        if self.status() == "VALIDATED":
            self.schedule_affectation(t)

    def migration(self, t: dt.datetime) -> None:
        """A raw write (migration, script using ``updateOne``): no patch, a gap in the log."""
        rng, world, d = self.rng, self.world, self.d
        kinds = ["department", "qpv", "cohort"]
        if d["status"] in ("IN_PROGRESS", "WAITING_VALIDATION"):
            kinds += ["status", "status"]
        kind = rng.choice(kinds)
        if kind == "status":
            new = "ABANDONED" if d["status"] == "IN_PROGRESS" else "NOT_ELIGIBLE"
            self.young.raw_update(self.status_change(t, new))
        elif kind == "department":
            region, name = self.dept.region, self.dept.name
            same_region = [x for x in world.departments if x.region == region and x.name != name]
            self.dept = rng.choice(same_region) if same_region else world.department()
            self.young.raw_update({"department": self.dept.name, "region": self.dept.region,
                                   "academy": self.dept.academy})  # fmt: skip
        elif kind == "qpv":
            self.young.raw_update({"qpv": "false" if d["qpv"] == "true" else "true"})
        else:
            cohort = world.pick_cohort(t, exclude=d["cohort"]) or world.cohorts[-1]
            if cohort.name == d["cohort"] or d["statusPhase1"] != "WAITING_AFFECTATION":
                self.young.raw_update({"qpv": "false" if d["qpv"] == "true" else "true"})
                return
            self.young.raw_update({"cohort": cohort.name, "cohortId": cohort.cohort_id})
            self.follow_cohort(t, cohort)

    def cron_legal_representatives(self, t: dt.datetime) -> None:
        """Cron deleteLegalRepresentatives: removes the parents' data from the young (a
        patch whose ``remove`` ops still carry it in ``originalValue``) and strips
        ``/parent1*`` and ``/parent2*`` ops from the young's older patches."""
        parents = [k for k in self.d if k.startswith(("parent1", "parent2"))]
        if not parents:
            return
        self.young.save(t, _CRON_LEGAL_REPRESENTATIVES, {}, unset=parents)

        def not_parent(op: dict) -> bool:
            return not _top(op["path"]).startswith(("parent1", "parent2"))

        keep = {id(p) for p in self.young_patches if p.date < t and p.rewrite(not_parent)}
        self.young_patches[:] = [p for p in self.young_patches if p.date >= t or id(p) in keep]

    def delete(self, t: dt.datetime) -> None:
        """Account deletion: every patch cut down to statistical fields (empty ones
        removed), then, for some, a ``destroy`` patch by another writer; the document goes."""
        if self.apps:
            return
        self.deleted = True
        keep = {id(p) for p in self.young_patches
                if p.rewrite(lambda op: _top(op["path"]) in STATISTICS_FIELDS)}  # fmt: skip
        self.young_patches[:] = [p for p in self.young_patches if id(p) in keep]
        if self.rng.random() < 0.5:
            self.young.destroy(t)

    # -- last year's applicants -----------------------------------------------------

    def past_life(self, alumni: bool) -> None:
        """Last year's inscription (before the log): replayed, its patches dropped later.
        ``alumni`` did their stay (phase 1 DONE); the others did not."""
        rng, world = self.rng, self.world
        past = world.past_cohort
        span = (past.inscription_end - past.inscription_start).total_seconds()
        t = past.inscription_start + dt.timedelta(seconds=rng.random() * span)
        day = _local(t).date()
        self.create_in_past(world.self_service_time(day), past)
        t = self.d["createdAt"]
        for step in range(4):
            t = self.soon(t, 60, 3600)
            (self.validate_email, self.coordinates, self.representatives, self.documents)[step](t)
        t = self.soon(t, 1, 60)
        self.complete_in_past(t)
        outcome = rng.random()
        t = t + dt.timedelta(days=rng.uniform(3, 30))
        if alumni or outcome < 0.4:
            self.young.save(t, world.referent(self.dept),
                            self.status_change(t, "VALIDATED", phase="COHESION_STAY"))  # fmt: skip
            done = {"statusPhase1": "DONE", "phase": "INTEREST_MISSION"} if alumni else {}
            self.young.save(past.date_end, _CRON_PHASE1, {"statusPhase1": "NOT_DONE", **done})
        elif outcome < 0.7:
            self.young.save(t, self.me(), self.status_change(
                t, "WITHDRAWN", withdrawnReason=rng.choice(_WITHDRAWN_REASONS),
                withdrawnMessage=self.comment()))  # fmt: skip
        else:
            self.young.save(t, _CRON_ABANDON, self.status_change(t, "ABANDONED"))

    def create_in_past(self, t: dt.datetime, cohort: _Cohort) -> None:
        """Creation of last year (an older app version saved it without ``user``)."""
        doc = self.new_young(t, cohort)
        self.young.create(doc, t, None)

    def complete_in_past(self, t: dt.datetime) -> None:
        """Completion of last year, without scheduling anything in the simulation."""
        changes = self.status_change(t, "WAITING_VALIDATION", inscriptionDoneDate=t)
        self.young.save(t, self.me(), changes)

    def reinscribe(self, t: dt.datetime) -> None:
        """Re-registration into a current cohort: REINSCRIPTION, then WAITING_VALIDATION."""
        cohort = self.world.open_cohort(t)
        d = self.d
        changes = self.status_change(
            t, "REINSCRIPTION", cohort=cohort.name, cohortId=cohort.cohort_id,
            statusPhase1="WAITING_AFFECTATION", phase="INSCRIPTION",
            hasStartedReinscription="true", reinscriptionStep2023="ELIGIBILITE",
            grade=_NEXT_GRADE.get(d["grade"], d["grade"]), lastLoginAt=t)  # fmt: skip
        self.young.save(t, self.me(), changes, unset=("withdrawnReason", "withdrawnMessage"))
        self.follow_cohort(t, cohort)
        if self.rng.random() < 0.85:
            self.at(self.soon(t, 120, 2 * 86400), self.reinscription_documents)

    def reinscription_documents(self, t: dt.datetime) -> None:
        if self.status() != "REINSCRIPTION":
            return
        self.young.save(t, self.me(), {**self.cni_file(t), "reinscriptionStep2023": "DONE"})
        self.at(self.soon(t, 0.05, 60), self.complete)

    # -- the end ----------------------------------------------------------------------

    def finish(self, personal: set[str]) -> Batch:
        """Drop what the log does not hold (before its start), shuffle a few insertions."""
        world, rng = self.world, self.rng
        young_patches = [p for p in self.young_patches if p.date >= world.start]
        if len(young_patches) > 2 and rng.random() < 0.03:  # inserted out of date order
            i = rng.randrange(len(young_patches) - 1)
            young_patches[i], young_patches[i + 1] = young_patches[i + 1], young_patches[i]
        world.sink = None
        return Batch(
            youngs=[] if self.deleted else [self.d],
            young_patches=[p.doc for p in young_patches],
            applications=[a.doc for a in self.apps],
            application_patches=[p.doc for p in self.app_patches],
            truth=[p.truth for p in (*young_patches, *self.app_patches) if p.truth is not None],
            personal_values=personal,
            young_id=str(self.d["_id"]),
            deleted=self.deleted,
            pre_log=self.pre_log,
            gaps=self.gaps,
        )


# --------------------------------------------------------------------------- small helpers


def _birthdate(rng: random.Random, on: dt.date, age: int) -> dt.date:
    """A birth date making the young exactly ``age`` years old ``on`` that day."""

    def years_before(years: int) -> dt.date:
        try:
            return on.replace(year=on.year - years)
        except ValueError:  # 29 February
            return on.replace(year=on.year - years, day=28)

    latest = years_before(age)
    earliest = years_before(age + 1) + dt.timedelta(days=1)
    return earliest + dt.timedelta(days=rng.randint(0, (latest - earliest).days))


def _zip(rng: random.Random, code: str) -> str:
    if len(code) == 3:
        return code + f"{rng.randint(0, 99):02d}"
    prefix = "20" if code in ("2A", "2B") else code
    return prefix + f"{rng.randint(0, 999):03d}"


def _flag(rng: random.Random, p: float) -> str:
    return _flag_of(rng.random() < p)


def _flag_of(value: bool) -> str:
    return "true" if value else "false"


def _bcrypt(rng: random.Random) -> str:
    return "$2b$10$" + "".join(rng.choice(_BCRYPT_ALPHABET) for _ in range(53))


# --------------------------------------------------------------------------- public API


def generate(
    seed: int = 42,
    youngs: int = 1000,
    days: int = 90,
    start: dt.date = DEFAULT_START,
    applications: bool = True,
    collect_truth: bool = True,
) -> Iterator[Batch]:
    """Stream the synthetic data: first a batch with ``cohorts`` and ``inscriptiongoals``,
    then one batch per young holding that young's whole life (final document unless
    deleted, patches finally in the log, applications and their patches, and, when
    ``collect_truth``, the :class:`PatchTruth` of each patch and the personal values).

    The period is ``[start, start + days)`` in Paris days; events later than its end are
    not generated (the simulation stops "now"). Deterministic for given arguments."""
    world = _World(seed, youngs, days, start, applications, collect_truth)
    yield Batch(cohorts=[c.doc() for c in (*world.cohorts, world.past_cohort)],
                inscriptiongoals=world.goals())  # fmt: skip
    for _ in range(youngs):
        yield _YoungLife(world).live()


def generate_all(
    seed: int = 42,
    youngs: int = 1000,
    days: int = 90,
    start: dt.date = DEFAULT_START,
    applications: bool = True,
) -> SeedData:
    """All of :func:`generate` (with the truth) held in lists: for tests, small seeds."""
    truth = SeedTruth()
    data = SeedData([], [], [], [], [], [], truth)
    for batch in generate(seed, youngs, days, start, applications, collect_truth=True):
        truth.absorb(batch)
        for name in ("youngs", "young_patches", "applications", "application_patches",
                     "inscriptiongoals", "cohorts"):  # fmt: skip
            getattr(data, name).extend(getattr(batch, name))
    return data
