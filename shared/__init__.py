"""Contracts and plumbing every Interact service shares: events, topics, settings, Kafka, logs."""
