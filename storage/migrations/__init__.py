"""The Alembic migrations of the ``storage`` models, shipped inside the installed package.

``storage.engine`` configures Alembic in code with this folder as its script location, so
``clfwatch db upgrade`` works from a wheel (no ``alembic.ini``, no checkout, any working
directory). ``env.py`` is Alembic's entry script, run by Alembic, never imported by us.
"""

from pathlib import Path

MIGRATIONS_DIR = Path(__file__).resolve().parent

SCHEMA_HEAD = "0011"
"""The newest revision in ``versions/``: bump it with every new migration.

Every ``clfwatch`` command compares the database's revision with this before it runs; knowing
the head without Alembic (which parses every script here to find it) saves each start ~0.15 s.
tests/storage/test_migrations.py checks it against Alembic's own head.
"""
