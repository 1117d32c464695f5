"""Phase 2 of a life: mission applications, the structures' decisions, the missions."""

from __future__ import annotations

import datetime as dt

from snu_assets.ops.demo_data.lifecycle import _Life, _Record
from snu_assets.ops.demo_data.people import (
    _CRON_MISSIONS,
)


class _Missions(_Life):
    """Phase 2: applications to missions and what becomes of them."""

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
