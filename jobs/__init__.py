"""Batch jobs: register loads, monthly statistics, disclosure control, releases."""
