"""Supplier-side feed tools: what a municipality or camera supplier runs to send detections in.

    csv_feed.py    a supplier's CSV export -> observation messages (its column mapping), read as a stream
    csv_records.py an export's bytes -> records under its header, a chunk at a time (encoding, stray quotes)
    spools.py      what reading an export keeps about all its rows (bad rows, ids seen), off the heap
    wall_clock.py  local wall-clock times -> instants, the repeated hour of autumn told apart by row order
    drop.py        a drop folder of CSV exports: read, delivered to a sink, reported, moved
    sinks.py       where messages go: the ingest API over HTTP (IngestSink) or Kafka directly (KafkaSink)
    synth_feed.py  `anpr feed synth`: synthetic municipal feeds (anpr/synth/detections.py), city-day by city-day
    onboard.py     `anpr onboard`: a municipality, its zones, supplier, API key and cameras in one step

Their commands are in cli/feeds.py. The message format (anpr/feeds/messages.py), the Kafka publisher
(anpr/feeds/publisher.py) and the cameras table (anpr/feeds/camera_table.py) stay in the shared core:
the synthetic detections, the ingest service and the stream use them too.
"""
