"""Handoff reads, one module per area: queue, workspace, settings_pages."""
