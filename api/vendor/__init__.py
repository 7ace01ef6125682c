"""The vendors' read-only API over published releases (`anpr serve-api`): `main.create_app` builds it."""
