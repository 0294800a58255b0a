"""Scenario types as builder options: each situation stages its actors relative to the ego's route and
checks that it happened as tagged (``registry``: ``ScenarioType``, ``build_scenario``)."""
