"""Test suites shipped with the package, so a new backend is a fixture, not a rewrite.

``daguerre.testing.store_suite.StoreSuite`` is the conformance suite every store passes.
"""
