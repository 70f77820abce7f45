"""Schema migrations of every service's database as one operator command (``__main__``)."""
