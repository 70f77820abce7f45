"""The statistics dashboard API (SPEC §3.1.9): ``routes`` (the tabs), ``schemas`` (shapes)."""
