"""Text and voice analysis of one utterance: sentiment, complaint categories, raised voice."""
