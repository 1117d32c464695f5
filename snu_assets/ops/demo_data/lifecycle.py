"""A young's life, the machinery: the saves of the young and of their applications, each
turned into the patch production would log (:class:`_Record`), and the timeline they are
scheduled on (:class:`_Life`). The parts of a life build on it: :mod:`.missions`,
:mod:`.stay`, :mod:`.inscription`, :mod:`.side_stories` and :mod:`.young`."""

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
    UTC,
    YOUNG_EXCLUDES,
    _ms,
    iso,
    plugin_ops,
    to_json,
)
from snu_assets.ops.demo_data.people import (
    _World,
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

    def __init__(self, life: _Life, model: str, sink: list[_Patch]):
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


class _Life:
    """One young's whole life over the period, as a small discrete-event simulation.

    Actions are scheduled on a heap and run in time order; the simulation stops at the
    end of the period ("now"). Every action re-checks the state it needs (a withdrawal,
    a migration or a cohort change can happen in between).

    The life is told in layers, each a class of its own module that may schedule the
    later parts of the life (a validated inscription schedules the stay, the stay the
    missions): :class:`_Life` (the clock and the shortcuts) <
    :class:`~.missions._Missions` < :class:`~.stay._Stay` <
    :class:`~.inscription._Inscription` < :class:`~.side_stories._SideStories` <
    :class:`~.young._PastLives` < :class:`~.young._YoungLife`.
    """

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
