"""Database backends: Django's, with what Baton's database rules need (see each backend)."""
