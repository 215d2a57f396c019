"""Shared plumbing with no knowledge of models, tasks or criteria: registries, hashing, atomic files."""
VERSION = "0.1.0"
