"""Reads for the queue pages."""
