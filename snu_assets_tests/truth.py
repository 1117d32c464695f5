"""What the generator's truth implies, shared by the tests that compare against it."""

from snu_assets.core.privacy.allowlist import TRACKED_FIELDS


def expected_events(patch) -> list[str]:
    """The event names the contract gives one patch of the truth."""
    if patch.is_creation:
        return [f"{patch.model}.created"]
    if patch.is_destroy:
        return [f"{patch.model}.deleted"]
    before, after = patch.before or {}, patch.after or {}
    return [
        f"{patch.model}.{name}.{after[name]}"
        for name in TRACKED_FIELDS[patch.model]
        if after.get(name) is not None and after.get(name) != before.get(name)
    ]
