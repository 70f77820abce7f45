"""Licence billing as pure rules (SPEC §7; Dutch service description §7.2, §7.3, §7.6).

No I/O here: callers pass activation periods, fees and dates in and get amounts back.

- ``licence``: active end users per local day, the monthly licence line (billed per day
  with the contractual minimum), and the early termination fee.
- ``invoice``: an invoice's lines in euro cents (the one rounding rule), set-up fees,
  the SDK option, service credits deducted, months and contract days.
"""
