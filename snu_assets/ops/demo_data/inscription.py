"""The inscription funnel of a life: the account, the steps of the file, its processing by
a referent (corrections, validation, waiting list)."""

from __future__ import annotations

import datetime as dt

from snu_assets.core.reference.geography import Department
from snu_assets.ops.demo_data.contract import (
    UTC,
    _ascii,
    _local,
    _stored_birth_date,
)
from snu_assets.ops.demo_data.people import (
    _AGE_WEIGHTS,
    _AGRI_SCHOOL,
    _CORRECTION_FIELDS,
    _CRON_ABANDON,
    _DENSITIES,
    _DENSITY_WEIGHTS,
    _GRADE_BY_AGE,
    _GT_SCHOOL,
    _NOT_SCHOOLED_SITUATIONS,
    _PRO_SCHOOL,
    _SCHOOL_BY_GRADE,
    _SCRIPT_WAITING_LIST,
    _bcrypt,
    _birthdate,
    _Cohort,
    _flag,
    _zip,
)
from snu_assets.ops.demo_data.stay import _Stay


class _Inscription(_Stay):
    """Creation and the inscription funnel, up to validation (then the stay)."""

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
