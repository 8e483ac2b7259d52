"""Voice activity detection: Silero VAD (from faster-whisper) cuts a channel into utterances."""
