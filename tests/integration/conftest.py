"""Fixtures for every integration test. Shared helpers live in plain modules beside the tests
(acme.py, demo_queries.py, helpers.py, rebuild_world.py), never in another test module."""

from __future__ import annotations

from tests.integration.acme import env

__all__ = ["env"]  # a fixture: registered here for every integration test
