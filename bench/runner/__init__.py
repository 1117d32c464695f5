"""The modules of ``bench/run.py``, by concern: :mod:`.common` (paths, names, formats),
:mod:`.measure` (servers, a measured subprocess), :mod:`.workers` (the measured steps),
:mod:`.dataset` (seeding and reuse), :mod:`.lines` (floor, dlt, project, day selection) and
:mod:`.report` (tables)."""
