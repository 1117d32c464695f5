"""A young's life: the saves of the young and of their applications, each turned into
the patch production would log (:class:`_Record`), scheduled on one timeline
(:class:`_YoungLife`)."""

from __future__ import annotations

import datetime as dt
import heapq
import itertools
from collections.abc import Callable, Iterable
from typing import Any

from bson import ObjectId

from snu_assets.core.reference.geography import Department
from snu_assets.ops.demo_data.contract import (
    APPLICATION_EXCLUDES,
    LEGACY_YOUNG_EXCLUDES,
    STATISTICS_FIELDS,
    UTC,
    YOUNG_EXCLUDES,
    _ascii,
    _local,
    _ms,
    _stored_birth_date,
    _top,
    iso,
    plugin_ops,
    to_json,
)
from snu_assets.ops.demo_data.people import (
    _AGE_WEIGHTS,
    _AGRI_SCHOOL,
    _COHORT_CHANGE_REASONS,
    _CORRECTION_FIELDS,
    _CRON_ABANDON,
    _CRON_LEGAL_REPRESENTATIVES,
    _CRON_MISSIONS,
    _CRON_PHASE1,
    _DENSITIES,
    _DENSITY_WEIGHTS,
    _GRADE_BY_AGE,
    _GT_SCHOOL,
    _NEXT_GRADE,
    _NOT_SCHOOLED_SITUATIONS,
    _PRO_SCHOOL,
    _SCHOOL_BY_GRADE,
    _SCRIPT_AFFECTATION,
    _SCRIPT_WAITING_LIST,
    _WITHDRAWN_REASONS,
    _bcrypt,
    _birthdate,
    _Cohort,
    _flag,
    _flag_of,
    _World,
    _zip,
)
from snu_assets.ops.demo_data.records import Batch, PatchTruth

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

    def _emit(
        self,
        at: dt.datetime,
        user: dict | None,
        ops: list[dict],
        before: dict | None,
        after: dict | None,
        destroy: bool = False,
    ) -> None:
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

    def at(self, when: dt.datetime, action: Callable, *args: Any) -> None:
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

    def status_change(self, t: dt.datetime, status: str, **more: Any) -> dict:
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

    def schooling(self, schooled: bool, age: int, dept: Department) -> dict:
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
