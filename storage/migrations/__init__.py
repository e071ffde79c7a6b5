"""The Alembic migrations of the ``storage`` models, shipped inside the installed package.

``storage.engine`` configures Alembic in code with this folder as its script location, so
``clfwatch db upgrade`` works from a wheel (no ``alembic.ini``, no checkout, any working
directory). ``env.py`` is Alembic's entry script, run by Alembic, never imported by us.
"""

from pathlib import Path

MIGRATIONS_DIR = Path(__file__).resolve().parent
