"""What the ingest service and the vendor API share: the error body and the rate limiter."""
