"""Everything that stands between personal data and PostgreSQL: the allow-list, the keyed
pseudonyms, the patch scrubber and the detectors used by the asset checks."""
