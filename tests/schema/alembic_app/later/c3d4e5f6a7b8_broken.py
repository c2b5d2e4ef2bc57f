"""a migration that fails

Revision ID: c3d4e5f6a7b8
Revises: b2c3d4e5f6a7
"""

from alembic import op

revision = "c3d4e5f6a7b8"
down_revision = "b2c3d4e5f6a7"
branch_labels = None
depends_on = None


def upgrade():
    op.execute("ALTER TABLE notes ADD COLUMN tag text")
    op.execute("SELECT no_such_function()")


def downgrade():
    pass
