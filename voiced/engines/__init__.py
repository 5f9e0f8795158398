"""Engines behind small Protocols, so cloud engines and test fakes plug in the same way."""

from .base import Brain, Engines, FrameClassifier, SpeechToText, TextToSpeech

__all__ = ["Brain", "Engines", "FrameClassifier", "SpeechToText", "TextToSpeech"]
