"""Simulated cluster behaviour (ReplicaSets, Endpoints, garbage collection) on the emulator's storage."""

from sandbox.cluster.running import Cluster

__all__ = ["Cluster"]
