"""The management REST API under /llmsim/api/ (Django REST Framework): scenarios, rules,
profiles, settings, resets, export and import, for staff users and CI pipelines.

Not on the provider routes' hot path: these are ordinary Django views. Every write goes
through the ORM, so the snapshot-version signal reloads every server process.
"""
