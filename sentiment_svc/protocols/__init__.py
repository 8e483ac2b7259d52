"""Sans-I/O adapters: telephony WebSocket protocols (and Asterisk AudioSocket's TCP stream)
in, typed call events and replies out."""
