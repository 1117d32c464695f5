"""Hostile input (issue #11): property tests of the scrubber, the detectors and the audit.

Pure functions, no server. Adversarial strategies: long runs of one character class,
alternations of ``.`` ``-`` ``@`` and word characters, digit runs, unicode letters, the
``a....1`` shape that makes a nested quantifier backtrack exponentially, deep nesting (up to
100 levels), long keys, many ops; and personal values (emails, French phones, NIR numbers,
street addresses, 24-hex MongoDB ids, old dates) embedded in statistical-looking strings, in
every allow-listed field of young and application, in ``user``, in ``ref``, in path tokens
and as keys of nested objects.

Properties (the contract, whatever the implementation):

- :func:`scrub_patch` never raises: a ``ScrubbedPatch`` or a ``Rejection``;
- no planted personal value survives anywhere in the output (neither the detectors on the
  output nor a substring search of the dumped output find it);
- the auditor finds no problem in what the scrubber (and the reconstruction) produced;
- cost: no regular expression with an unbounded repetition (``+``, ``*``, ``{n,}``) ever
  scans a string longer than ``detectors.MAX_CATEGORY_LENGTH``, and no single pattern call
  takes more than a small CPU budget (the ``a....1`` exponential case stays under the cap).
  Counted by wrapping the compiled patterns of ``snu_assets.core.privacy``, not by wall time: a
  blocked call returns "no match", so the other properties are still judged on their own.
"""

from __future__ import annotations

import contextlib
import dataclasses
import re
import signal
from datetime import datetime

import orjson
import pytest
from bson import ObjectId
from hypothesis import HealthCheck, Phase, given, note, settings
from hypothesis import strategies as st

from snu_assets.core.privacy import allowlist, audit, detectors, scrub
from snu_assets.core.privacy.allowlist import ALLOWED_FIELDS
from snu_assets.core.privacy.audit import audit_ops, audit_state
from snu_assets.core.privacy.detectors import findings
from snu_assets.core.privacy.pseudonym import Pseudonymizer
from snu_assets.core.privacy.scrub import (
    Rejection,
    ScrubbedPatch,
    scrub_document,
    scrub_patch,
)
from snu_assets.core.reconstruction import Patch, reconstruct_record
from snu_assets_testing.adversarial import has_unbounded_repeat

P = Pseudonymizer("fuzz-privacy-test-key-0123456789")
YEAR = 2025
WHEN = datetime(YEAR, 3, 1, 12, 30)
#: CPU seconds one pattern call may take on a string under the cap (normal: microseconds)
PATTERN_CPU_BUDGET = 0.2

FUZZ = settings(
    max_examples=30,
    deadline=None,
    derandomize=True,
    database=None,
    phases=[Phase.explicit, Phase.generate],  # no shrinking: bounded time
    suppress_health_check=list(HealthCheck),
)


# ----------------------------------------------------------------- the pattern guard


class _TooSlow(Exception):
    pass


class PatternLog:
    def __init__(self):
        self.calls = 0
        self.violations: list[str] = []
        #: characters scanned by unbounded patterns since the last reset
        self.scanned = 0

    def reset(self):
        self.violations, self.scanned = [], 0


class GuardedPattern:
    """A compiled pattern that reports (and refuses) the calls that could be super-linear."""

    _SCANS = frozenset(
        {"search", "match", "fullmatch", "finditer", "findall", "sub", "subn", "split"}
    )

    def __init__(self, name: str, pattern: re.Pattern, log: PatternLog):
        self._name, self._pattern, self._log = name, pattern, log
        self._unbounded = has_unbounded_repeat(pattern)

    def __getattr__(self, attr):
        target = getattr(self._pattern, attr)
        if attr not in self._SCANS:
            return target

        def call(string, *args, **kwargs):
            log = self._log
            log.calls += 1
            text = string if isinstance(string, str) else ""
            if self._unbounded:
                log.scanned += len(text)
                if len(text) > detectors.MAX_CATEGORY_LENGTH:
                    log.violations.append(f"{self._name}.{attr} on {len(text)} characters")
                    return self._no_match(attr, string)
            try:
                with _cpu_budget(PATTERN_CPU_BUDGET):
                    result = target(string, *args, **kwargs)
                    return iter(list(result)) if attr == "finditer" else result
            except _TooSlow:
                log.violations.append(
                    f"{self._name}.{attr} took > {PATTERN_CPU_BUDGET} s CPU "
                    f"on {len(text)} characters: {text[:40]!r}..."
                )
                return self._no_match(attr, string)

        return call

    @staticmethod
    def _no_match(attr, string):
        return {
            "sub": string,
            "split": [string],
            "subn": (string, 0),
            "finditer": iter(()),
            "findall": [],
        }.get(attr)


class _cpu_budget:
    """Raise :class:`_TooSlow` inside the block after ``seconds`` of process CPU time
    (``ITIMER_PROF``/``SIGPROF``: independent of pytest-timeout's ``SIGALRM``; the regex
    engine checks for signals while it backtracks)."""

    armed = False

    def __init__(self, seconds: float):
        self.seconds = seconds

    @staticmethod
    def _handler(signum, frame):
        if _cpu_budget.armed:
            _cpu_budget.armed = False
            raise _TooSlow()

    def __enter__(self):
        self.previous = signal.signal(signal.SIGPROF, self._handler)
        _cpu_budget.armed = True
        signal.setitimer(signal.ITIMER_PROF, self.seconds)

    def __exit__(self, *exc):
        _cpu_budget.armed = False
        signal.setitimer(signal.ITIMER_PROF, 0)
        signal.signal(signal.SIGPROF, self.previous)
        return False


def _privacy_modules():
    return [allowlist, audit, detectors, scrub]


@pytest.fixture(scope="module")
def patterns():
    """Every compiled pattern of ``snu_assets.core.privacy`` (module globals, and tuples, lists
    and dicts of them) replaced by a :class:`GuardedPattern` for this module's tests."""
    log = PatternLog()
    saved = []
    for module in _privacy_modules():
        for name, value in list(vars(module).items()):
            if isinstance(value, re.Pattern):
                guarded = GuardedPattern(f"{module.__name__.rsplit('.', 1)[-1]}.{name}", value, log)
            elif isinstance(value, tuple | list) and any(isinstance(v, re.Pattern) for v in value):
                guarded = type(value)(
                    GuardedPattern(f"{name}[{i}]", v, log) if isinstance(v, re.Pattern) else v
                    for i, v in enumerate(value)
                )
            elif isinstance(value, dict) and any(isinstance(v, re.Pattern) for v in value.values()):
                guarded = {
                    k: GuardedPattern(f"{name}[{k!r}]", v, log) if isinstance(v, re.Pattern) else v
                    for k, v in value.items()
                }
            else:
                continue
            saved.append((module, name, value))
            setattr(module, name, guarded)
    _clear_caches()
    yield log
    for module, name, value in saved:
        setattr(module, name, value)
    _clear_caches()


def _clear_caches():
    for module in _privacy_modules():
        for value in vars(module).values():
            if callable(getattr(value, "cache_clear", None)) and hasattr(value, "cache_info"):
                value.cache_clear()


# ----------------------------------------------------------------- strategies

STATISTICAL = [
    "VALIDATED",
    "WAITING_VALIDATION",
    "IN_PROGRESS",
    "Juillet 2025",
    "2025 HTS 02 - Juin",
    "CLE 2025 Mai",
    "Île-de-France",
    "Bourgogne-Franche-Comté",
    "Paris",
    "75",
    "2A",
    "3eme",
    "1ereGT",
    "female",
    "AFFECTED",
    "Lycée",
    "rural",
]
SEPARATORS = [" ", ", ", " : ", " (", ") ", " - ", "\n", "; "]
RUN_CHARS = ["a", "Z", "é", "_", "1", "9", ".", "-", "@", "+", " ", "ж", "中", "'", "/"]
ALTERNATION_UNITS = ["a", ".", "-", "@", "1", "_", "+", " ", "é"]


def _repeat(unit: str, size: int) -> str:
    return (unit * (size // max(1, len(unit)) + 1))[:size]


runs = st.builds(lambda c, n: c * n, st.sampled_from(RUN_CHARS), st.integers(1, 4000))
alternations = st.builds(
    _repeat,
    st.lists(st.sampled_from(ALTERNATION_UNITS), min_size=1, max_size=8).map("".join),
    st.integers(1, 4000),
)
#: the exponential shape of a nested quantifier, below and around the category cap
backtrackers = st.builds(
    lambda head, sep, n, tail: head + sep * n + tail,
    st.sampled_from(["a", "ab", "é", "a-b"]),
    st.sampled_from([".", "-", " ", "'", ".-", "()"]),
    st.integers(10, 130),
    st.sampled_from(["1", "@", "9", "@a", "_1"]),
)
word_then_at = st.builds(
    lambda c, n: c * n + "@", st.sampled_from(["a", "a.", "a-", "1"]), st.integers(1, 4000)
)
unicode_text = st.text(
    st.characters(categories=["Lu", "Ll", "Lo", "Nd", "Pd", "Po", "Zs"]), max_size=300
)
hostile_strings = st.one_of(
    runs, alternations, backtrackers, word_then_at, unicode_text, st.sampled_from(STATISTICAL)
)

emails = st.builds(
    lambda user, n, domain, tld: f"{user}{n}@{domain}.{tld}",
    st.sampled_from(["lea.martin", "jean-pierre", "ines", "m.dupont+snu", "chloe_b"]),
    st.integers(0, 999).map(lambda n: "" if n < 300 else str(n)),
    st.sampled_from(["gmail", "orange", "laposte", "free", "hotmail", "ac-paris"]),
    st.sampled_from(["fr", "com", "net", "gouv.fr"]),
)
phones = st.builds(
    lambda prefix, first, pairs, sep: prefix + str(first) + "".join(sep + p for p in pairs),
    st.sampled_from(["0", "+33 ", "+33", "0033 "]),
    st.integers(1, 9),
    st.lists(st.integers(0, 99).map("{:02d}".format), min_size=4, max_size=4),
    st.sampled_from(["", " ", ".", "-"]),
)
nirs = st.builds(
    lambda sex, yy, mm, dept, commune, order, key, sep: sep.join(
        [str(sex), f"{yy:02d}", f"{mm:02d}", dept, f"{commune:03d}", f"{order:03d}"]
        + ([f"{key:02d}"] if key is not None else [])
    ),
    st.sampled_from([1, 2]),
    st.integers(0, 99),
    st.integers(1, 12),
    st.sampled_from(["01", "13", "2A", "2B", "59", "75", "93", "97"]),
    st.integers(1, 999),
    st.integers(1, 999),
    st.none() | st.integers(1, 97),
    st.sampled_from(["", " "]),
)
streets = st.builds(
    lambda n, bis, comma, kind, name: f"{n}{bis}{comma} {kind} {name}",
    st.integers(1, 9999),
    st.sampled_from(["", " bis", " ter", "bis"]),
    st.sampled_from(["", ","]),
    st.sampled_from(
        [
            "rue",
            "avenue",
            "boulevard",
            "bd",
            "chemin",
            "allée",
            "impasse",
            "place",
            "route",
            "quai",
            "cours",
            "résidence",
            "lieu-dit",
            "faubourg",
        ]
    ),
    st.sampled_from(["de la Paix", "Foch", "des Tilleuls", "Victor Hugo", "du Moulin"]),
)
mongo_ids = (
    st.binary(min_size=12, max_size=12)
    .map(bytes.hex)
    .flatmap(lambda h: st.sampled_from([h, h.upper()]))
)
old_dates = st.builds(
    lambda y, m, d, iso: f"{y}-{m:02d}-{d:02d}" if iso else f"{d:02d}/{m:02d}/{y}",
    st.integers(1950, YEAR - detectors.BIRTH_DATE_MIN_AGE_YEARS),
    st.integers(1, 12),
    st.integers(1, 28),
    st.booleans(),
)
personal_values = st.one_of(emails, phones, nirs, streets, mongo_ids, old_dates)


@st.composite
def embedded(draw, personal=personal_values):
    """``(string, planted)``: a personal value inside a statistical-looking string."""
    planted = draw(personal)
    left = draw(st.sampled_from(["", *STATISTICAL]))
    right = draw(st.sampled_from(["", *STATISTICAL]))
    text = (
        ((left + draw(st.sampled_from(SEPARATORS))) if left else "")
        + planted
        + ((draw(st.sampled_from(SEPARATORS)) + right) if right else "")
    )
    return text, planted


def nest(value, keys: list[str]):
    for key in reversed(keys):
        value = {key: value}
    return value


deep_values = st.builds(
    lambda leaf, depth, key: nest(leaf, [f"{key}{i}" for i in range(depth)]),
    hostile_strings,
    st.integers(1, 100),
    st.one_of(st.just("k"), runs.map(lambda s: s[:2000])),
)
hostile_values = st.one_of(
    hostile_strings,
    hostile_strings,
    deep_values,
    st.none(),
    st.booleans(),
    st.integers(-(2**63), 2**63 - 1),
    st.floats(allow_nan=False),
    st.lists(hostile_strings, max_size=5),
    st.builds(ObjectId),
    st.datetimes(min_value=datetime(1950, 1, 1), max_value=datetime(2030, 1, 1)),
)

NOT_ALLOWED = ["email", "firstName", "parent1Phone", "address", "files", "location", "notes"]
OP_KINDS = ["add", "replace", "remove", "move", "copy", "test", "_get", "destroy"]


def _fields(model):
    return sorted(ALLOWED_FIELDS[model])


def mostly(good, bad, one_in: int = 8):
    """``good``, and ``bad`` once in ``one_in`` draws (most patches must get past the first
    checks for the values to reach the detectors)."""
    return st.integers(0, one_in - 1).flatmap(lambda i: bad if i == 0 else good)


@st.composite
def hostile_ops(draw, model):
    kind = draw(
        mostly(
            st.sampled_from(["add", "replace", "remove"]),
            st.sampled_from(OP_KINDS) | hostile_strings.map(lambda s: s[:50]),
        )
    )
    field = draw(mostly(st.sampled_from(_fields(model)), st.sampled_from(NOT_ALLOWED), 3))
    tokens = [field] + draw(
        mostly(
            st.just([]), st.lists(hostile_strings.map(lambda s: s[:60]), min_size=1, max_size=3), 3
        )
    )
    path = draw(
        mostly(st.just(scrub.join_pointer(tokens)), hostile_strings | st.integers() | st.none(), 12)
    )
    op = {"op": kind, "path": path}
    if kind != "remove" or draw(st.integers(0, 9)) == 0:
        op["value"] = draw(hostile_values)
    if draw(st.booleans()):
        op["originalValue"] = draw(hostile_values)
    if kind in ("move", "copy"):
        op["from"] = draw(st.sampled_from(["/" + f for f in _fields(model) + NOT_ALLOWED]))
    return op


@st.composite
def hostile_docs(draw):
    """``(doc, model, young_ref)``: a patch document as pymongo decodes it, hostile all over."""
    model = draw(st.sampled_from(["young", "application"]))
    ops = draw(st.lists(hostile_ops(model), max_size=8))
    if draw(st.integers(0, 4)) == 0:  # many ops: one drawn op repeated on distinct paths
        template, count = draw(hostile_ops(model)), draw(st.integers(100, 3000))
        ops += [
            dict(template, path=f"{template['path']}/{i}")
            if isinstance(template["path"], str)
            else template
            for i in range(count)
        ]
    doc = {
        "_id": draw(mostly(st.builds(ObjectId), hostile_strings)),
        "__v": 0,
        "ref": draw(mostly(st.builds(ObjectId) | st.builds(ObjectId).map(str), hostile_values)),
        "modelName": draw(mostly(st.sampled_from([model, None]), st.just("other"))),
        "date": draw(mostly(st.sampled_from([WHEN, WHEN.isoformat() + "Z"]), hostile_values)),
        "user": draw(
            st.one_of(
                st.none(),
                st.fixed_dictionaries(
                    {"role": hostile_strings | st.sampled_from(["admin", "young"])}
                ),
                st.fixed_dictionaries(
                    {"firstName": hostile_strings, "email": emails, "_id": st.builds(ObjectId)}
                ),
                deep_values,
            )
        ),
        "ops": draw(mostly(st.just(ops), hostile_values, 20)),
    }
    for key in [k for k in doc if k != "ops" and draw(st.integers(0, 29)) == 0]:
        del doc[key]
    return doc, model, draw(st.none() | st.builds(ObjectId) | hostile_strings)


@st.composite
def long_value_docs(draw):
    """``(doc, model, young_ref)``: a valid patch whose allow-listed fields (and paths
    inside them) receive the hostile strings: what reaches the detectors."""
    model = draw(st.sampled_from(["young", "application"]))
    strings = st.one_of(runs, alternations, word_then_at, backtrackers, unicode_text)
    ops = [
        {
            "op": draw(st.sampled_from(["add", "replace"])),
            "path": scrub.join_pointer(
                [field] + draw(st.lists(strings.map(lambda s: s[:60]), max_size=1))
            ),
            "value": draw(strings),
            "originalValue": draw(strings),
        }
        for field in draw(st.lists(st.sampled_from(_fields(model)), min_size=1, max_size=6))
    ]
    doc = {"_id": ObjectId(), "ref": ObjectId(), "modelName": model, "date": WHEN, "ops": ops}
    return doc, model, None


@st.composite
def planted_docs(draw, in_paths=False):
    """``(doc, model, young_ref, current, planted)``: personal values embedded in every
    allow-listed field (value and originalValue), in ``user``, as keys of nested objects,
    sometimes in ``ref``; with ``in_paths``, as path tokens under allow-listed fields.

    A few embedded values are drawn and dealt to the fields in turn (few draws per example:
    fast), each field getting a different shape from one example to the next."""
    model = draw(st.sampled_from(["young", "application"]))
    pool = draw(st.lists(embedded(), min_size=3, max_size=7))
    shift, run = draw(st.integers(0, 4)), draw(runs)
    planted = [value for _, value in pool]
    ops, current = [], {}

    def deal(i: int) -> str:
        return pool[i % len(pool)][0]

    fields = _fields(model)
    for i, field in enumerate(fields):
        shape = (i + shift) % 5
        if shape == 0:  # a key of a nested object
            value = nest("Juillet 2025", [deal(i)] * (1 + i % 3))
        elif shape == 1:  # the bare personal value
            value = pool[i % len(pool)][1]
        elif shape == 2:  # inside a long run (free text)
            value = deal(i) + " " + run
        else:
            value = deal(i)
        op = {"op": "add" if i % 2 else "replace", "path": f"/{field}", "value": value}
        if (i + shift) % 2:
            op["originalValue"] = deal(i + 1)
        ops.append(op)
        current[field] = deal(i + 2)
        if in_paths:
            tokens = [field] + [deal(i + 3 + k) for k in range(1 + (i + shift) % 2)]
            ops.append(
                {
                    "op": "replace",
                    "path": scrub.join_pointer(tokens),
                    "value": STATISTICAL[i % len(STATISTICAL)],
                }
            )
    ops.append({"op": "remove", "path": f"/{fields[shift]}", "originalValue": deal(shift)})
    ops = draw(st.permutations(ops))
    user = {
        "firstName": deal(0),
        "lastName": deal(1),
        "email": draw(emails),
        "phone": draw(phones),
        "role": draw(st.sampled_from(["admin", "young", None])),
        "_id": ObjectId(),
    }
    planted += [user["email"], user["phone"]]
    ref: object = ObjectId()
    if draw(st.integers(0, 4)) == 0:
        ref = deal(shift)
    doc = {
        "_id": ObjectId(),
        "__v": 0,
        "ref": ref,
        "modelName": model,
        "date": WHEN,
        "user": user,
        "ops": ops,
    }
    return doc, model, draw(st.none() | st.builds(ObjectId)), current, planted


# ----------------------------------------------------------------- helpers


def _dump(value) -> str:
    """The output as text, path tokens decoded (a token ``14~103~12009`` is ``14/03/2009``)."""
    if dataclasses.is_dataclass(value):
        value = dataclasses.asdict(value)
    text = orjson.dumps(value, default=str, option=orjson.OPT_NON_STR_KEYS).decode()
    tokens = []
    for op in (value.get("ops") or []) if isinstance(value, dict) else []:
        if isinstance(op, dict) and isinstance(op.get("path"), str):
            tokens += op["path"].split("/")
            tokens += [t.replace("~1", "/").replace("~0", "~") for t in op["path"].split("/")]
    return text + "\n" + "\n".join(tokens)


def _assert_clean(output, planted: list[str], year: int = YEAR):
    as_data = dataclasses.asdict(output) if dataclasses.is_dataclass(output) else output
    found = findings(as_data, year)
    assert found == [], f"the detectors find personal data in the output: {found[:5]}"
    text = _dump(output)
    survivors = [p for p in planted if p in text]
    assert survivors == [], f"planted values survive in the output: {survivors[:5]}"


def _as_patch(result: ScrubbedPatch) -> Patch:
    return Patch(
        patch_id=result.patch_id,
        model=result.model,
        record_id=result.record_id,
        occurred_at=result.occurred_at,
        order="0" * 24,
        ops=result.ops,
        young_id=result.young_id,
    )


def _input_size(doc) -> int:
    return len(orjson.dumps(doc, default=str, option=orjson.OPT_NON_STR_KEYS))


# ----------------------------------------------------------------- properties


def test_the_guard_sees_the_detectors(patterns):
    """Canary: the wrapped patterns are the ones the detectors call (else the cost
    properties below would pass without checking anything)."""
    _clear_caches()
    before = patterns.calls
    assert detectors.kinds_of_personal_data("écrire à lea.martin@gmail.com", YEAR)
    result = scrub_patch(
        {
            "_id": ObjectId(),
            "ref": ObjectId(),
            "date": WHEN,
            "ops": [{"op": "replace", "path": "/cohort", "value": "Juillet 2025 lea@gmail.com"}],
        },
        "young",
        P,
    )
    assert result.ops[0]["value"] == scrub.REDACTED
    assert patterns.calls > before, "no pattern call intercepted: update the guard"


@FUZZ
@given(hostile_docs())
def test_scrub_patch_never_raises(patterns, case):
    doc, model, young_ref = case
    result = scrub_patch(doc, model, P, young_ref=young_ref)
    assert isinstance(result, ScrubbedPatch | Rejection)


@FUZZ
@given(st.one_of(hostile_docs(), long_value_docs()))
def test_scrub_patch_cost_is_linear(patterns, case):
    """No unbounded pattern scans a string longer than the cap, none takes more than
    ``PATTERN_CPU_BUDGET``, and the characters scanned stay proportional to the input."""
    doc, model, young_ref = case
    _clear_caches()
    patterns.reset()
    with contextlib.suppress(Exception):  # test_scrub_patch_never_raises reports it
        scrub_patch(doc, model, P, young_ref=young_ref)
    size = _input_size(doc)
    note(f"input {size} bytes, scanned {patterns.scanned} characters")
    assert patterns.violations == [], patterns.violations[:5]
    assert patterns.scanned <= 16 * size + 10_000


@FUZZ
@given(planted_docs())
def test_no_planted_personal_value_survives_scrubbing(patterns, case):
    doc, model, young_ref, current, planted = case
    result = scrub_patch(doc, model, P, young_ref=young_ref)
    assert isinstance(result, ScrubbedPatch | Rejection)
    _assert_clean(result, planted)
    _assert_clean(scrub_document(model, current, P, YEAR), planted)


@FUZZ
@given(planted_docs(in_paths=True))
def test_no_planted_personal_value_survives_in_path_tokens(patterns, case):
    """A personal value as a key under an allow-listed field (``/cohort/lea@gmail.com``):
    the op's path is kept by the scrubber, so the key must not be."""
    doc, model, young_ref, _, planted = case
    result = scrub_patch(doc, model, P, young_ref=young_ref)
    assert isinstance(result, ScrubbedPatch | Rejection)
    _assert_clean(result, planted)


@FUZZ
@given(st.one_of(hostile_docs(), long_value_docs(), planted_docs().map(lambda c: c[:3])))
def test_audit_finds_nothing_in_scrubbed_output(patterns, case):
    doc, model, young_ref = case
    result = scrub_patch(doc, model, P, young_ref=young_ref)
    if isinstance(result, Rejection):
        assert findings(result.reason, YEAR) == []
        return
    year = result.occurred_at.year
    assert audit_ops(model, result.ops, year) == []
    for op in result.ops:  # what the extract writes as the patch's own state
        if op["op"] != "destroy":
            field = scrub.split_pointer(op["path"])[0]
            assert audit_state(model, {field: op.get("value")}, year) == []


@FUZZ
@given(st.one_of(hostile_docs(), planted_docs().map(lambda c: c[:3])), hostile_values)
def test_reconstruction_of_scrubbed_output_is_clean(patterns, case, current_value):
    """``reconstruct_record`` takes scrubbed patches and a scrubbed current document: it
    never raises and the auditor finds nothing in its before/after states."""
    doc, model, young_ref = case
    result = scrub_patch(doc, model, P, young_ref=young_ref)
    if isinstance(result, Rejection):
        return
    year = result.occurred_at.year
    current = scrub_document(model, {f: current_value for f in _fields(model)}, P, year)
    for state_now in (current, None):
        report = reconstruct_record([_as_patch(result)], state_now)
        for states in report.states:
            assert audit_state(model, states.before, year) == []
            assert audit_state(model, states.after, year) == []


@FUZZ
@given(planted_docs())
def test_audit_flags_planted_values_in_raw_rows(patterns, case):
    """The audit re-reads PostgreSQL: a hostile row holding personal data is flagged, and
    judging it never scans a long string with an unbounded pattern."""
    doc, model, _, current, _ = case
    _clear_caches()
    patterns.reset()
    ops = [op for op in doc["ops"] if op["op"] != "remove"]
    assert audit_ops(model, ops, YEAR), "no finding in ops full of personal values"
    problems = audit_state(model, current, YEAR)
    assert {kind for _, kind in problems} - {"field outside the allow-list"}
    assert patterns.violations == [], patterns.violations[:5]


@FUZZ
@given(
    st.one_of(
        runs,
        alternations,
        word_then_at,
        unicode_text,
        deep_values,
        st.builds(lambda s: {s: "x"}, runs),
    )
)
def test_audit_of_hostile_raw_values_is_linear(patterns, value):
    _clear_caches()
    patterns.reset()
    audit_ops("young", [{"op": "replace", "path": "/cohort", "value": value}], YEAR)
    audit_state("young", {"cohort": value}, YEAR)
    assert patterns.violations == [], patterns.violations[:5]


@FUZZ
@given(
    st.sampled_from(sorted(ALLOWED_FIELDS["young"])),
    st.one_of(phones, nirs, mongo_ids)
    .map(lambda s: re.sub(r"\D", "", s))
    .filter(lambda s: 9 <= len(s) <= 18),
)
def test_personal_numbers_do_not_survive_as_numbers(patterns, field, digits):
    """A phone or NIR typed as a JSON number (``612345678``) in an allow-listed field."""
    number = int(digits)
    result = scrub_patch(
        {
            "_id": ObjectId(),
            "ref": ObjectId(),
            "date": WHEN,
            "ops": [{"op": "replace", "path": f"/{field}", "value": number}],
        },
        "young",
        P,
    )
    assert str(number) not in _dump(result)


# ----------------------------------------------------------------- sizes that a regression
# of the cost would turn into a pytest-timeout (and whose pattern calls the guard counts)

HUGE = 1 << 20


@pytest.mark.timeout(60)
@pytest.mark.parametrize(
    "value",
    [
        "a" * HUGE,
        "1" * HUGE,
        _repeat("a.a-a@a.", HUGE),
        _repeat("a-", HUGE),
        "a" * HUGE + "@",
        "a" + "." * HUGE + "1",
        _repeat("éàüßøñЖжλ中", HUGE),
        "a" + "." * 118 + "1",
        "a" + "." * 117 + "@",
        nest("a" * HUGE, [f"k{i}" for i in range(100)]),
        nest("x", ["a" * (HUGE // 100) + str(i) for i in range(100)]),
    ],
    ids=[
        "letters",
        "digits",
        "a.a-a@a.",
        "a-a-",
        "word@",
        "dots1",
        "unicode",
        "dots1-cap",
        "dots@-cap",
        "deep",
        "long-keys",
    ],
)
def test_megabyte_values_in_every_kind_of_field(patterns, value):
    ops = [
        {"op": "replace", "path": f"/{field}", "value": value, "originalValue": value}
        for field in ("cohort", "cohortId", "birthdateAt", "status")
    ]
    _clear_caches()
    patterns.reset()
    result = scrub_patch(
        {"_id": ObjectId(), "ref": ObjectId(), "date": WHEN, "ops": ops}, "young", P
    )
    assert isinstance(result, ScrubbedPatch)
    assert audit_ops("young", result.ops, YEAR) == []
    assert patterns.violations == [], patterns.violations[:5]


def _many_ops(count: int) -> list[dict]:
    ops = [
        {
            "op": "replace",
            "path": f"/cohort/k{i}/v",
            "value": f"Juillet {2000 + i % 30}",
            "originalValue": "Juin 2025",
        }
        for i in range(count)
    ]
    return ops + [
        {"op": "replace", "path": f"/email/{i}", "value": "lea@gmail.com"} for i in range(count)
    ]


@pytest.mark.timeout(30)
def test_many_ops_on_nested_paths_scrub_in_linear_time(patterns):
    """20,000 ops on nested allow-listed paths and 20,000 dropped ones in one patch
    (quadratic: minutes)."""
    _clear_caches()
    patterns.reset()
    result = scrub_patch(
        {"_id": ObjectId(), "ref": ObjectId(), "date": WHEN, "ops": _many_ops(20_000)}, "young", P
    )
    assert isinstance(result, ScrubbedPatch)
    assert patterns.violations == []


@pytest.mark.timeout(10)
def test_many_ops_on_nested_paths_reconstruct_in_linear_time():
    """A scrubbed patch of 5,000 ops on nested allow-listed paths (``/cohort/k1/v``), no
    current document: the forward replay and the backward walk take well under a second
    when linear; a step costing the size of the state per op takes tens of seconds."""
    result = scrub_patch(
        {"_id": ObjectId(), "ref": ObjectId(), "date": WHEN, "ops": _many_ops(5_000)}, "young", P
    )
    report = reconstruct_record([_as_patch(result)], None)
    assert len(report.states) == 1
