"""HTTP services: the read-only vendor API and (later) the suppliers' ingest endpoint."""
