"""Alembic's environment: the database is DATABASE_URL (cockpit injects the accessory's)."""

import os

from alembic import context
from sqlalchemy import create_engine

url = os.environ["DATABASE_URL"]
for scheme in ("postgres://", "postgresql://"):
    if url.startswith(scheme):
        url = "postgresql+psycopg://" + url[len(scheme):]
engine = create_engine(url)
with engine.connect() as connection:
    context.configure(connection=connection, target_metadata=None)
    with context.begin_transaction():
        context.run_migrations()
