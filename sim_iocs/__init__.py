"""Simulated EPICS IOCs for tests, demos and benchmarks of filestore-vfs."""
