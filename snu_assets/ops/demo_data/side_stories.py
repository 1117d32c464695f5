"""The side stories of a life, independent of the funnel: personal edits, password
resets, withdrawals, cohort changes, migrations, crons, deletion."""

from __future__ import annotations

import datetime as dt

from snu_assets.ops.demo_data.contract import (
    STATISTICS_FIELDS,
    _top,
)
from snu_assets.ops.demo_data.inscription import _Inscription
from snu_assets.ops.demo_data.people import (
    _COHORT_CHANGE_REASONS,
    _CRON_LEGAL_REPRESENTATIVES,
    _WITHDRAWN_REASONS,
    _bcrypt,
    _Cohort,
    _flag,
)


class _SideStories(_Inscription):
    """Edits and incidents independent of the inscription funnel."""

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
