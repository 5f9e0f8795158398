"""voiced: answers phone calls with an AI voice agent, fast enough to feel human."""

__version__ = "0.1.0"
