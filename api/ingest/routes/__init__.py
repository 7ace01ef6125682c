"""The ingest service's routes: `delivery` (POST /) and `reports` (what a supplier can look up)."""
