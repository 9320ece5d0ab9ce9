"""Alembic's scripts for the app database (run by alphapulse.appdb.migrate, not by import)."""
