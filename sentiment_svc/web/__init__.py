"""The HTTP/WebSocket shell: authentication, the REST API, ingest and live feeds."""
