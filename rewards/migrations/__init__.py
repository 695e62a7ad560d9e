"""Alembic's migration environment (Flask-Migrate), shipped with the package."""
