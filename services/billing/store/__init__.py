"""Billing's persistence: its tables (``tables``) and the queries reading invoices back (``views``)."""
