"""The gateway: one public origin for the Portal, its API and the website chat."""
