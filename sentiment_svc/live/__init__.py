"""The live service core: per-call sessions, the shared model workers and the event bus."""
