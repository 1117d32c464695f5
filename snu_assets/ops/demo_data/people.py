"""Who and when: vocabularies, cohorts and the world every life shares (RNG, Faker
``fr_FR``, calendar, departments, referents, missions)."""

from __future__ import annotations

import bisect
import datetime as dt
import itertools
import math
import random
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from bson import ObjectId
from faker import Faker

from snu_assets.core.reference.geography import Department
from snu_assets.ops.demo_data.contract import _ascii, _local, _ms, _paris, _stable_hex, legacy_until

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


def _make_cohort(
    name: str, open_day: dt.date, close_day: dt.date, stay: dt.date, weight: float
) -> _Cohort:
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

    def __init__(
        self,
        seed: int,
        youngs: int,
        days: int,
        start: dt.date,
        applications: bool,
        collect_truth: bool,
    ) -> None:
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

    def note(self, *values: Any) -> None:
        """Remember personal values (for the no-leak tests)."""
        if self.sink is not None:
            self.sink.update(v for v in values if isinstance(v, str) and v)

    def email(self, first: str, last: str, domains: Sequence[str] = _EMAIL_DOMAINS) -> str:
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

    def department(self) -> Department:
        i = bisect.bisect_right(self._dept_cum, self.rng.random() * self._dept_cum[-1])
        return self.departments[min(i, len(self.departments) - 1)]

    def _staff(
        self, role: str, department: Department | None = None, region: str | None = None
    ) -> dict:
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

    def referent(self, department: Department) -> dict:
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

    def mission(self, department: Department) -> dict:
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


def _department_weight(d: Department) -> float:
    if d.code in _COLLECTIVITIES:
        return 0.03
    if d.code in _BIG_DEPARTMENTS:
        return 4.0
    if d.code in _SMALL_DEPARTMENTS:
        return 0.3
    return 1.2


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
