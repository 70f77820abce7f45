"""Pure statistics rules: what a conversation's events make of its fact row, which buckets
that row counts in, and how rows fold into a dashboard's figures. No I/O here."""
