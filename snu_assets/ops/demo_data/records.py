"""What the generator hands out: batches of documents, and the truth about each patch
(the tests' and the benchmark's yardstick)."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field

from snu_assets.ops.demo_data.contract import _is_private

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
