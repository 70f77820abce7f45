"""Alembic's environment (``env.py``) and revision template shared by every service.

Each service keeps only its revisions (``services/<name>/migrations/``); ``shared.migrations``
points Alembic here for the rest, with the service's :class:`~shared.migrations.Schema`.
"""
