"""Issue #21, item 4 (first part): the schema knows which key wrote its pseudonyms. The first
run records a fingerprint of ``SNU_PSEUDONYM_KEY`` (a keyed hash of a constant, never the
key); a run with another key is refused before it writes, naming both fingerprints."""

from snu_assets.core.privacy.pseudonym import key_fingerprint
from snu_assets.defs.resources import PseudonymResource
from snu_assets_tests.conftest import TEST_KEY
from snu_assets_tests.integration.test_partition_guard import (  # noqa: F401 (fixture)
    failure_of,
    run_day,
    seed_day,
    snapshot,
    world,
)

OTHER_KEY = "a-staging-key-that-is-not-production-42"


def test_a_run_with_another_key_is_refused_naming_both_fingerprints(world):  # noqa: F811
    mongo, postgres, pseudonyms, _ = world
    seed_day(mongo.db())
    assert run_day(mongo, postgres, pseudonyms).success
    with postgres.connect() as conn:
        recorded = conn.execute(f'select * from "{postgres.schema}".pseudonym_key').fetchall()
    assert len(recorded) == 1
    assert recorded[0][0] == key_fingerprint(TEST_KEY)
    assert TEST_KEY not in repr(recorded)
    before = snapshot(postgres)

    message = failure_of(run_day(mongo, postgres, PseudonymResource(key=OTHER_KEY)))
    assert snapshot(postgres) == before
    assert f"This run's key has fingerprint {key_fingerprint(OTHER_KEY)}" in message
    assert f"written with the key of fingerprint {key_fingerprint(TEST_KEY)}" in message
    assert f"schema '{postgres.schema}'" in message
    assert OTHER_KEY not in message and TEST_KEY not in message

    # the right key goes on working
    assert run_day(mongo, postgres, pseudonyms).success
    assert snapshot(postgres)["raw_patches"] == before["raw_patches"]
