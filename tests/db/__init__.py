"""Database tests: the Alembic migrations against real SQLite and PostgreSQL databases."""
