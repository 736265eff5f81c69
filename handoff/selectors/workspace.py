"""Reads for the workspace pages."""
