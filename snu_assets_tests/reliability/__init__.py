"""Crashes, outages and load (issue 6), against the real servers."""
