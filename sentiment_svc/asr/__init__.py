"""Speech recognition: faster-whisper loaded from a local CTranslate2 directory."""
