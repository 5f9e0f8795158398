"""Test doubles that ship with voiced: async fake engines for the virtual clock, and a Twilio
peer that drives a call over an in-memory socket or the app's own WebSocket."""
