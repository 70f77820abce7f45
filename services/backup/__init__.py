"""Backups and restore of every service's database (SPEC §5.1.3.3, §5.1.2.2).

``python -m services.backup backup|list|restore`` — see ``archive`` for what a backup is and
``docs/operations.md`` for the schedule (first at set-up, then weekly) and the procedure.
"""
