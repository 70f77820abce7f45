"""Drop the unused channels table (written from directory events, never read: the website
chat reads ``webchat_channels``, Meta channels ``meta_channels``).

Revision ID: 0002
Revises: 0001
Create Date: 2026-12-01 12:00:47.371617
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.drop_table("channels")


def downgrade() -> None:
    op.create_table(
        "channels",
        sa.Column("channel_id", sa.String(length=36), nullable=False),
        sa.Column("tenant_id", sa.String(length=36), nullable=False),
        sa.Column("channel_type", sa.String(length=20), nullable=False),
        sa.Column("public_key", sa.String(length=64), nullable=False),
        sa.Column("connected", sa.Boolean(), nullable=False),
        sa.PrimaryKeyConstraint("channel_id"),
        sa.UniqueConstraint("public_key"),
    )
