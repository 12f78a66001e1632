"""Embedded AWS for local runs and tests: moto's server, and the stack's resources created on it
from template.yaml, so local runs and the deployed stack cannot drift apart."""
