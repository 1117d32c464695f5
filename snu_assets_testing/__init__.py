"""Helpers shared by the tests (``snu_assets_tests``), the benchmarks (``bench/``) and the
fuzzer (``fuzz/``): importing them imports no test module, no fixture and no pytest.

- :mod:`.adversarial`: hostile values of every family (deep nesting, huge strings, ...);
- :mod:`.servers`: a free local port;
- :mod:`.tables`: the tables the graph writes;
- :mod:`.roles`: the Metabase and writer roles of ``roles.sql``, for the duration of a block.
"""
