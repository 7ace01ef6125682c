"""The suppliers' ingest service (`anpr serve-ingest`): `main.create_ingest_app` builds it from
`services.IngestServices` (`services.build_services` wires those from settings)."""
