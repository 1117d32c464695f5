"""Coverage-guided fuzzing of the scrubber (issue #11, hostile input), with atheris.

Each input of the fuzzer builds one patch document, either

- structurally (``FuzzedDataProvider``): model, ids, date, author, ops whose op, path tokens
  and values are fuzzer strings, repeated units (up to 1 MB: ``unit * count``, the shape of
  the quadratic and exponential regex cases), nested objects (up to 100 levels, long keys),
  many ops, and personal values (emails, phones, NIR, streets, MongoDB ids, old dates)
  planted inside them; the document then goes through ``bson.encode``/``bson.decode``, so it
  holds exactly the types pymongo gives the extract;
- or from the raw bytes as JSON (``orjson.loads``) when they parse to an object.

Properties checked on every input (a failure is a crash: libFuzzer saves the input):

1. ``scrub_patch`` returns a ``ScrubbedPatch`` or a ``Rejection``, never raises;
2. no planted personal value survives in the output (substring of its orjson dump, path
   tokens decoded), and the detectors find nothing in it;
3. ``audit_ops``/``audit_state`` find no problem in the scrubbed ops;
4. no regular expression with an unbounded repetition of ``snu_assets.core.privacy`` ever scans a
   string longer than ``detectors.MAX_CATEGORY_LENGTH`` (checked by wrapping the compiled
   patterns); super-linear time elsewhere shows as a libFuzzer ``-timeout``.

``FUZZ_IGNORE`` (comma-separated) silences known classes of failure to explore past them:
``paths`` (personal data or free text in the kept path tokens), ``long`` (property 4),
``planted`` (property 2), ``audit`` (property 3).

    make fuzz                                   # 60 s
    .venv/bin/python fuzz/fuzz_scrub.py -max_total_time=600 -timeout=20 fuzz/corpus
"""

from __future__ import annotations

import dataclasses
import os
import re
import sys

import atheris

with atheris.instrument_imports(include=["snu_assets"]):
    import bson
    import orjson
    from bson import ObjectId

    from snu_assets.core import values
    from snu_assets.core.privacy import allowlist, audit, detectors, scrub
    from snu_assets.core.privacy.allowlist import ALLOWED_FIELDS
    from snu_assets.core.privacy.pseudonym import Pseudonymizer

from snu_assets_testing.adversarial import has_unbounded_repeat

IGNORE = {c.strip() for c in os.environ.get("FUZZ_IGNORE", "").split(",") if c.strip()}
P = Pseudonymizer("fuzz-scrub-key-0123456789abcdef")
YEAR = 2025
PERSONAL = [
    "lea.martin@gmail.com",
    "j-p.dupont+snu@ac-paris.gouv.fr",
    "06 12 34 56 78",
    "0612345678",
    "+33 6 12 34 56 78",
    "06.12.34.56.78",
    "1 85 05 78 006 084 36",
    "185057800608436",
    "2 94 12 2A 123 456",
    "12 rue de la Paix",
    "3 bis, avenue Foch",
    "27 allée des Tilleuls",
    "65a0f0f0f0f0f0f0f0f0f0f0",
    "5F3E2D1C0B0A090807060504",
    "2009-03-14",
    "14/03/2009",
    "1998-12-01",
]
STATISTICAL = [
    "VALIDATED",
    "Juillet 2025",
    "2025 HTS 02 - Juin",
    "Île-de-France",
    "75",
    "2A",
    "3eme",
    "female",
    "",
]
SEPARATORS = [" ", ", ", " : ", " (", ") ", " - ", "\n"]
UNITS = ["a", "1", ".", "-", "@", "a.a-a@a.", "a-", "é", "中", " ", "_", "a.", "'"]
NOT_ALLOWED = ["email", "firstName", "parent1Phone", "address", "files"]
OP_KINDS = ["add", "replace", "remove", "move", "copy", "test", "_get", "destroy"]
MAX_REPEAT = 1 << 20


# ------------------------------------------------------------------ the pattern guard


class LongScan(AssertionError):
    pass


class Guarded:
    _SCANS = frozenset(
        {"search", "match", "fullmatch", "finditer", "findall", "sub", "subn", "split"}
    )

    def __init__(self, name, pattern):
        self._name, self._pattern = name, pattern
        self._unbounded = has_unbounded_repeat(pattern)

    def __getattr__(self, attr):
        target = getattr(self._pattern, attr)
        if attr not in self._SCANS or not self._unbounded or "long" in IGNORE:
            return target

        def call(string, *args, **kwargs):
            if isinstance(string, str) and len(string) > detectors.MAX_CATEGORY_LENGTH:
                raise LongScan(f"{self._name}.{attr} scans {len(string)} characters")
            return target(string, *args, **kwargs)

        return call


def guard_patterns() -> None:
    for module in (allowlist, audit, detectors, scrub):
        for name, value in list(vars(module).items()):
            if isinstance(value, re.Pattern):
                setattr(module, name, Guarded(f"{module.__name__}.{name}", value))
            elif isinstance(value, tuple | list) and any(isinstance(v, re.Pattern) for v in value):
                setattr(
                    module,
                    name,
                    type(value)(
                        Guarded(f"{name}[{i}]", v) if isinstance(v, re.Pattern) else v
                        for i, v in enumerate(value)
                    ),
                )


# ------------------------------------------------------------------ building a document


class Builder:
    def __init__(self, data: bytes):
        self.fdp = atheris.FuzzedDataProvider(data)
        self.planted: list[str] = []

    def rarely(self) -> bool:
        """True once in ten (False when the input is exhausted: the usual, valid case)."""
        return self.fdp.ConsumeIntInRange(0, 9) == 9

    def pick(self, items):
        return items[self.fdp.ConsumeIntInRange(0, len(items) - 1)]

    def text(self, limit: int = 40) -> str:
        return self.fdp.ConsumeUnicodeNoSurrogates(self.fdp.ConsumeIntInRange(0, limit))

    def string(self, depth: int = 0) -> str:
        shape = self.fdp.ConsumeIntInRange(0, 5)
        if shape == 0:
            return self.text()
        if shape == 1:  # a long run: the quadratic and exponential shapes
            unit = self.pick(UNITS) if self.fdp.ConsumeBool() else (self.text(8) or "a")
            count = self.fdp.ConsumeIntInRange(0, MAX_REPEAT // max(1, len(unit)))
            return self.text(4) + unit * count + self.text(4)
        if shape == 2:  # a personal value in a statistical-looking string
            value = self.pick(PERSONAL)
            self.planted.append(value)
            left, right = self.pick(STATISTICAL), self.pick(STATISTICAL)
            return (
                ((left + self.pick(SEPARATORS)) if left else "")
                + value
                + ((self.pick(SEPARATORS) + right) if right else "")
            )
        if shape == 3:
            return self.pick(STATISTICAL)
        if shape == 4 and depth < 2:
            return self.string(depth + 1) + self.pick(SEPARATORS) + self.string(depth + 1)
        return self.text(130)

    def value(self, depth: int = 0):
        kind = self.fdp.ConsumeIntInRange(0, 9)
        if kind <= 4:
            return self.string()
        if kind == 5:
            return self.fdp.ConsumeIntInRange(-(2**63), 2**63 - 1)
        if kind == 6:
            return self.pick([None, True, False, 1.5, ObjectId("65a0f0f0f0f0f0f0f0f0f0f3")])
        if kind == 7 and depth == 0:  # deep nesting, long keys, a personal key
            levels = self.fdp.ConsumeIntInRange(1, 100)
            keys = [self.string() for _ in range(self.fdp.ConsumeIntInRange(1, 3))] or ["k"]
            value = self.string()
            for level in range(levels):
                value = {f"{keys[level % len(keys)]}{level}": value}
            return value
        if kind == 8 and depth == 0:
            return [self.value(depth + 1) for _ in range(self.fdp.ConsumeIntInRange(0, 4))]
        return self.string()

    def op(self, model: str) -> dict:
        fields = sorted(ALLOWED_FIELDS[model]) + NOT_ALLOWED
        tokens = [self.pick(fields)] + [
            self.string() if self.fdp.ConsumeBool() else self.text(8)
            for _ in range(self.fdp.ConsumeIntInRange(0, 2))
        ]
        path = self.string() if self.rarely() else scrub.join_pointer(tokens)
        op = {"op": self.text(10) if self.rarely() else self.pick(OP_KINDS), "path": path}
        if not self.rarely():
            op["value"] = self.value()
        if self.fdp.ConsumeBool():
            op["originalValue"] = self.value()
        if op["op"] in ("move", "copy"):
            op["from"] = "/" + self.pick(fields)
        return op

    def document(self) -> tuple[dict, str, object]:
        model = self.pick(["young", "application"])
        ops = [self.op(model) for _ in range(self.fdp.ConsumeIntInRange(0, 6))]
        if self.fdp.ConsumeIntInRange(0, 7) == 0:  # many ops
            template = self.op(model)
            size = len(orjson.dumps(template, default=str, option=orjson.OPT_NON_STR_KEYS))
            count = self.fdp.ConsumeIntInRange(0, min(20_000, (8 << 20) // size))
            ops += [dict(template, path=f"{template['path']}/{i}") for i in range(count)]
        user = self.pick(
            [
                None,
                {"role": "admin"},
                {"role": self.string()},
                {"firstName": self.string(), "email": self.string(), "_id": ObjectId()},
            ]
        )
        doc = {
            "_id": self.string() if self.rarely() else ObjectId(),
            "ref": self.value() if self.rarely() else ObjectId(),
            "modelName": self.text(10) if self.rarely() else model,
            "date": self.string() if self.rarely() else "2025-03-01T12:30:00Z",
            "user": user,
            "ops": ops,
        }
        doc["date"] = values.to_utc(doc["date"]) or doc["date"]
        young_ref = ObjectId() if self.fdp.ConsumeBool() else self.value()
        try:
            return bson.decode(bson.encode(doc)), model, young_ref
        except bson.errors.InvalidDocument:  # a key holding NUL: MongoDB cannot hold it
            return None, model, young_ref


# ------------------------------------------------------------------ the properties


def dump(output) -> str:
    data = dataclasses.asdict(output)
    text = orjson.dumps(data, default=str, option=orjson.OPT_NON_STR_KEYS).decode()
    for op in data.get("ops") or []:
        text += "\n" + op["path"].replace("~1", "/").replace("~0", "~")
    return text


def check(doc, model: str, young_ref, planted: list[str]) -> None:
    output = scrub.scrub_patch(doc, model, P, young_ref=young_ref)
    assert isinstance(output, scrub.ScrubbedPatch | scrub.Rejection), type(output)
    if isinstance(output, scrub.Rejection):
        assert detectors.findings(output.reason, YEAR) == [], output.reason
        found = []
    else:
        found = detectors.findings(dataclasses.asdict(output), output.occurred_at.year)
    if "paths" in IGNORE:
        found = [(pointer, kind) for pointer, kind in found if not pointer.endswith("/path")]
    assert found == [], f"detectors find personal data in the scrubbed output: {found[:5]}"
    if "planted" not in IGNORE:
        text = dump(output)
        if "paths" in IGNORE and isinstance(output, scrub.ScrubbedPatch):
            text = dump(dataclasses.replace(output, ops=[dict(op, path="") for op in output.ops]))
        survivors = [p for p in set(planted) if p in text]
        assert survivors == [], f"planted personal values survive: {survivors}"
    if isinstance(output, scrub.ScrubbedPatch) and "audit" not in IGNORE:
        year = output.occurred_at.year
        problems = audit.audit_ops(model, output.ops, year)
        if "paths" in IGNORE:
            problems = [p for p in problems if not p[0].endswith("/path")]
        assert problems == [], f"the audit flags the scrubbed ops: {problems[:5]}"
        for op in output.ops:
            if op["op"] != "destroy":
                field = scrub.split_pointer(op["path"])[0]
                state_problems = audit.audit_state(model, {field: op.get("value")}, year)
                assert state_problems == [], f"the audit flags a scrubbed state: {state_problems}"


def test_one_input(data: bytes) -> None:
    if data[:1] == b"{":  # raw JSON: a patch document as a tool would export it
        try:
            doc = orjson.loads(data)
        except orjson.JSONDecodeError:
            return
        if not isinstance(doc, dict):
            return
        try:
            doc = bson.decode(bson.encode(doc))
        except (bson.errors.InvalidDocument, OverflowError, ValueError):
            return  # not something MongoDB could hold
        for model in ("young", "application"):
            check(doc, model, None, [])
        return
    builder = Builder(data)
    doc, model, young_ref = builder.document()
    if doc is None:
        return
    check(doc, model, young_ref, builder.planted)


def main() -> None:
    guard_patterns()
    argv = list(sys.argv)
    if not any(a.startswith("-max_len") for a in argv):
        argv.append("-max_len=8192")
    if not any(a.startswith("-timeout") for a in argv):
        argv.append("-timeout=20")  # seconds per input: a hang is a finding
    if not any(a.startswith("-rss_limit_mb") for a in argv):
        argv.append("-rss_limit_mb=4096")
    atheris.Setup(argv, test_one_input, enable_python_coverage=True)
    atheris.Fuzz()


if __name__ == "__main__":
    main()
