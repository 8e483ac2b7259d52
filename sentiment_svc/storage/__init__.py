"""Persistence: the SQLite call store and the per-call WAV recordings."""
