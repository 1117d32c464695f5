"""Local servers started by the tests and the benchmarks."""

from snu_assets.io.embedded import free_port

__all__ = ["free_port"]
