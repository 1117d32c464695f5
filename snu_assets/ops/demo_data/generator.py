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

import datetime as dt
from collections.abc import Iterator

from snu_assets.ops.demo_data.contract import DEFAULT_START
from snu_assets.ops.demo_data.people import _World
from snu_assets.ops.demo_data.records import Batch, SeedData, SeedTruth
from snu_assets.ops.demo_data.young import _YoungLife

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
