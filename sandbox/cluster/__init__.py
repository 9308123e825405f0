"""Simulated cluster behaviour (ReplicaSets, Endpoints, garbage collection) on top of the emulator's storage."""
