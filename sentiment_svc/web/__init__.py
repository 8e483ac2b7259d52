"""The HTTP/WebSocket shell: authentication, the REST API, ingest (and the AudioSocket TCP
listener) and live feeds."""
