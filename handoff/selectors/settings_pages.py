"""Reads for the settings_pages pages."""
