"""Importers from other checkpoint formats."""
