"""Streaming ingestion: Kafka sources feeding Spark Structured Streaming jobs."""
