"""HTTP services: `api.ingest` (suppliers deliver detections) and `api.vendor` (vendors read releases).

`api.common` holds what both share. `releases.py` (the release store) and `access_log.py` (the audit
table) stay at this level for now: the statistics jobs import them.
"""
