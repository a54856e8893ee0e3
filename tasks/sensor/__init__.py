"""The sensor's room: notice a complete file in the watch folder and hand it to ingest exactly
once."""
