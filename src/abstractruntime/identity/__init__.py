"""Actor identity (SPEC §7.11): stable ids for the agents, humans and services that drive runs."""

from .fingerprint import ActorFingerprint

__all__ = ["ActorFingerprint"]
