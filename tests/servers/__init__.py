"""Loopback test servers (filled in below)."""
