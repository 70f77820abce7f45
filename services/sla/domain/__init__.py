"""Service levels as pure rules (SPEC §6; Dutch service description §6 is authoritative).

No I/O here: callers pass instants, incidents and fees in and get numbers back.

- ``clock``: service time between two instants (Mon-Fri 08:00-18:00 Europe/Brussels,
  minus stop-clock intervals) and its inverse, ``deadline``.
- ``targets``: priorities, the response/restore targets and which of them are SLAs.
- ``incident``: an incident as the service desk records it and ``measure`` against targets.
- ``credits``: service credits for a calendar month and whether a claim is admissible.

Hub tenants have no service levels at all (§6, first paragraph); only Pro and Bot do.
"""
