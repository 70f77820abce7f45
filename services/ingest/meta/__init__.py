"""Meta channels in: the webhook of Messenger, Page comments and WhatsApp (see docs/ingest-meta.md)."""
