"""Phase 1 of a life: the assignment to a stay, its confirmation, presence and end."""

from __future__ import annotations

import datetime as dt

from snu_assets.ops.demo_data.missions import _Missions
from snu_assets.ops.demo_data.people import (
    _CRON_PHASE1,
    _SCRIPT_AFFECTATION,
    _Cohort,
    _flag_of,
)


class _Stay(_Missions):
    """Phase 1: the stay (assignment, confirmation, presence, end), then phase 2."""

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
