"""Template tags of the handoff app."""
