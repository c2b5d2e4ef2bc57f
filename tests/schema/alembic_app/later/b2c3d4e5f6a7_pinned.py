"""add pinned to notes

Revision ID: b2c3d4e5f6a7
Revises: a1b2c3d4e5f6
"""

from alembic import op

revision = "b2c3d4e5f6a7"
down_revision = "a1b2c3d4e5f6"
branch_labels = None
depends_on = None


def upgrade():
    op.execute("ALTER TABLE notes ADD COLUMN pinned boolean NOT NULL DEFAULT false")


def downgrade():
    op.execute("ALTER TABLE notes DROP COLUMN pinned")
