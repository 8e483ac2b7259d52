"""Real-time call sentiment monitoring for Russian- and Ukrainian-speaking contact centres."""

__version__ = "0.1.0"
