"""Audio in: decoding files and telephone codecs, resampling to 16 kHz, channel split, loudness."""
