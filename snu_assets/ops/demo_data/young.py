"""A young's whole life: last year's lives (re-inscription, alumni) and the one of the
period, with its side stories."""

from __future__ import annotations

import datetime as dt

from snu_assets.ops.demo_data.contract import (
    _local,
    _ms,
)
from snu_assets.ops.demo_data.people import (
    _CRON_ABANDON,
    _CRON_PHASE1,
    _NEXT_GRADE,
    _WITHDRAWN_REASONS,
    _Cohort,
)
from snu_assets.ops.demo_data.records import Batch
from snu_assets.ops.demo_data.side_stories import _SideStories


class _PastLives(_SideStories):
    """Last year's lives: an applicant re-registering, a volunteer now in phase 2."""

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


class _YoungLife(_PastLives):
    """One young's whole life over the period (see :class:`~.lifecycle._Life`)."""

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
