"""Alembic migrations of the sink's PostgreSQL schema (run by ``synfinance db init``)."""
