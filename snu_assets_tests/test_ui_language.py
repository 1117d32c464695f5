"""One language per surface (issue 25): what the Dagster UI shows of the code location is in
French. Every asset, asset check, job, op, schedule and sensor description, every resource's
description, every run-config and resource field description, and the prose of the assets'
definition metadata (legends), read from the loaded ``Definitions``: a text in English, or
with no French in it, fails naming where it is.

A text is judged on its words, identifiers left out (table, column and variable names,
``young.status.VALIDATED``, values such as ``log_read=auto``): no common English function
word, and some French ones."""

from __future__ import annotations

import re
from collections.abc import Iterator

from dagster import AssetKey, MarkdownMetadataValue, TextMetadataValue
from dagster._config import Shape

from snu_assets.definitions import defs

#: common English function words (none of them a French word, nor an identifier the texts
#: name: ``before``/``after`` are columns, ``all`` a value)
ENGLISH = frozenset(
    "the of and is are was were be been with from for to by when which that this these "
    "its it into not than then only has have had if at per their they whose where each "
    "every or in until once one".split()
)
#: common French function words (a text with none of them is not French)
FRENCH = frozenset(
    "le la les l un une des du de d et est sont dans par pour sur chaque ou au aux que qui "
    "en à ne n pas se s avec sans dont non".split()
)

#: a token that names something rather than says it: identifiers, paths, values, numbers
_IDENTIFIER = re.compile(r"[_./=<>`\d@:]|^[A-Z]{2,}")
_WORD = re.compile(r"[^\W\d_]+")


def words(text: str) -> list[str]:
    """The words of ``text``, lower-cased, identifiers left out."""
    text = re.sub(r"`[^`]*`", " ", text)
    kept = []
    for token in text.split():
        token = token.strip("()[]{},;:!?«»\"'’*|")
        if token and not _IDENTIFIER.search(token):
            kept.extend(w.lower() for w in _WORD.findall(token))
    return kept


def language_problem(text: str | None) -> str | None:
    """Why ``text`` is not French (None when it is)."""
    if not text or not text.strip():
        return "no description"
    found = words(text)
    english = sorted({w for w in found if w in ENGLISH})
    if english:
        return f"English words {english}"
    if not any(w in FRENCH for w in found):
        return "no French word"
    return None


def _config_fields(schema, where: str) -> Iterator[tuple[str, str | None]]:
    """The description of a config schema and of each of its fields, nested ones included."""
    if schema is None:
        return
    field = schema.as_field()
    if isinstance(field.config_type, Shape):
        yield from _shape(field.config_type, where)


def _shape(shape: Shape, where: str) -> Iterator[tuple[str, str | None]]:
    for name, field in shape.fields.items():
        yield f"{where} field {name}", field.description
        if isinstance(field.config_type, Shape):
            yield from _shape(field.config_type, f"{where}.{name}")


def ui_texts() -> Iterator[tuple[str, str | None]]:
    """``(where, text)`` of everything the UI shows of the definitions in prose."""
    graph = defs.resolve_asset_graph()
    for key in sorted(graph.get_all_asset_keys(), key=lambda k: k.to_user_string()):
        name = key.to_user_string()
        node = graph.get(key)
        yield f"asset {name}", node.description
        for entry, value in node.metadata.items():
            if isinstance(value, MarkdownMetadataValue | TextMetadataValue):
                yield f"asset {name} metadata {entry}", value.value
            elif isinstance(value, str) and not entry.startswith("dagster/"):
                yield f"asset {name} metadata {entry}", value
    for check in sorted(graph.asset_check_keys, key=str):
        yield (
            f"check {check.name} of {check.asset_key.to_user_string()}",
            (graph.get_check_spec(check).description),
        )
    assets = {key.to_user_string() for key in graph.get_all_asset_keys()}
    for job in defs.resolve_all_job_defs():
        if not job.name.startswith("__"):  # Dagster's implicit asset job: described by none
            yield f"job {job.name}", job.description
        for node in job.nodes:
            if node.name not in assets and node.name != "extract_and_reconstruct":
                yield f"op {node.name} of job {job.name}", node.definition.description
            yield from _config_fields(node.definition.config_schema, f"run config of {node.name}")
            config = node.definition.config_schema
            if config is not None and isinstance(config.as_field().config_type, Shape):
                yield f"run config of {node.name}", config.as_field().description
    for schedule in defs.schedules or []:
        yield f"schedule {schedule.name}", schedule.description
    for sensor in defs.sensors or []:
        yield f"sensor {sensor.name}", sensor.description
    for name, resource in (defs.resources or {}).items():
        definition = resource.get_resource_definition()
        yield f"resource {name}", definition.description
        yield from _config_fields(definition.config_schema, f"resource {name}")
    for entry, value in (defs.metadata or {}).items():
        yield f"definitions metadata {entry}", getattr(value, "value", value)


def test_the_checker_tells_english_from_french():
    assert language_problem("The week's national validated count equals the events.")
    assert language_problem("Names failed partitions in the log") == "English words ['in', 'the']"
    assert language_problem("raw_patches → reconstructed_events") == "no French word"
    assert language_problem(None) == "no description"
    assert (
        language_problem(
            "before et after ne contiennent que des champs autorisés (log_read=auto, "
            "young.status.VALIDATED, SNU_SMALL_CELL_K, `weekly_report_YYYY.html`)."
        )
        is None
    )


def test_every_text_the_ui_shows_is_french():
    texts = list(ui_texts())
    # every kind of definition is read (an API change would otherwise make this test empty)
    kinds = {where.split()[0] for where, _ in texts}
    assert kinds >= {"asset", "check", "job", "op", "run", "schedule", "sensor", "resource"}
    assert len(texts) > 60
    problems = [f"{where}: {why}" for where, text in texts if (why := language_problem(text))]
    assert not problems, "\n".join(problems)


def test_every_row_of_the_metadata_legends_explains_its_keys_in_french():
    graph = defs.resolve_asset_graph()
    for asset in ("weekly_funnel", "weekly_funnel_national"):
        legend = graph.get(AssetKey(asset)).metadata["légende"].value
        rows = [line for line in legend.splitlines() if line.startswith("| ")][1:]
        assert rows, asset
        for row in rows:
            cells = [c.strip() for c in row.strip().strip("|").split("|")]
            assert len(cells) == 2 and cells[0], (asset, row)
            assert not language_problem(cells[1]), (asset, row, language_problem(cells[1]))
