"""Hostile input shared by the tests, the fuzzer and the benchmarks (issue #11): the
adversarial families of long values, deep nesting, and the check that tells a regular
expression able to scan without bound (the ones that must never see a long string)."""

import re

try:  # Python 3.11: the private modules behind ``re``
    from re import _constants as sre_constants  # type: ignore[attr-defined]
    from re import _parser as sre_parse  # type: ignore[attr-defined]
except ImportError:  # pragma: no cover
    import sre_constants  # type: ignore[no-redef]
    import sre_parse  # type: ignore[no-redef]

#: long runs of one character class, alternations that tease the e-mail / phone / date
#: patterns, runs that split several ways ("a" + dots + "1"): ``family(n)`` is n characters
FAMILIES = {
    "letters": lambda n: "a" * n,
    "digits": lambda n: "7" * n,
    "dot-dash-at": lambda n: ("a.a-a@a." * (n // 8 + 1))[:n],
    "dashes": lambda n: ("a-" * (n // 2 + 1))[:n],
    "dots-then-digit": lambda n: "a" + "." * (n - 2) + "1",
    "word-then-at": lambda n: "w" * (n - 1) + "@",
    "unicode letters": lambda n: "é" * n,
}


def hostile(index: int, n: int) -> str:
    """The ``index``-th family (cycling) at ``n`` characters."""
    names = list(FAMILIES)
    return FAMILIES[names[index % len(names)]](n)


def nested(depth: int, key_length: int) -> dict:
    """An object ``depth`` levels deep whose keys are ``key_length`` characters long."""
    value: object = "leaf"
    for level in range(depth):
        value = {f"{level}" + "k" * key_length: value}
    return value  # type: ignore[return-value]


def has_unbounded_repeat(pattern: re.Pattern) -> bool:
    """Whether ``pattern`` holds a repeat without an upper bound (``+``, ``*``, ``{n,}``): its
    cost grows with the string, so the detectors may only run it on short strings."""
    repeats = {
        sre_constants.MAX_REPEAT,
        sre_constants.MIN_REPEAT,
        getattr(sre_constants, "POSSESSIVE_REPEAT", sre_constants.MAX_REPEAT),
    }

    def walk(node) -> bool:
        if isinstance(node, sre_parse.SubPattern):
            return any(walk(item) for item in node)
        if isinstance(node, list | tuple):
            if (
                len(node) == 2
                and node[0] in repeats
                and isinstance(node[1], tuple)
                and node[1][1] == sre_constants.MAXREPEAT
            ):
                return True
            return any(walk(item) for item in node)
        return False

    return walk(sre_parse.parse(pattern.pattern, pattern.flags))
