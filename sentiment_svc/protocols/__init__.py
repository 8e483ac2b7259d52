"""Sans-I/O adapters: telephony WebSocket protocols in, typed call events and replies out."""
