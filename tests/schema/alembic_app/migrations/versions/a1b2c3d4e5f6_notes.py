"""create the notes table

Revision ID: a1b2c3d4e5f6
Revises:
"""

from alembic import op

revision = "a1b2c3d4e5f6"
down_revision = None
branch_labels = None
depends_on = None


def upgrade():
    op.execute("CREATE TABLE notes (id serial PRIMARY KEY, text text NOT NULL)")


def downgrade():
    op.execute("DROP TABLE notes")
