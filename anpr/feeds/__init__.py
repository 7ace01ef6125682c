"""What the ingest service, the stream and the feed tools share about observations on their way in.

    messages.py      Kafka records of the ingest contract (key, JSON value, headers)
    publisher.py     the long-lived Kafka producer that reports success only when all is acknowledged
    camera_table.py  the Delta table `cameras`: written by the ingest service, read by the stream

The supplier-side tools (CSV exports, file drops, sinks, synthetic feeds, onboarding) are the stage
jobs/feeds/. These three stay in the core because modules the layers keep below `jobs` use them:
the synthetic detections (anpr/synth/detections.py) build records with messages.py, the stream
(streaming/cameras.py) reads camera_table.py, and the ingest service publishes with publisher.py,
which is the core's Kafka producer, not a supplier's tool.
"""
