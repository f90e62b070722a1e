"""initial schema

Revision ID: cb23d03ebbc1
Revises:
Create Date: 2026-11-22 02:26:03.587097
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "cb23d03ebbc1"
down_revision: str | None = None
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "beacon_ids",
        sa.Column("portal", sa.String(length=64), nullable=False),
        sa.Column("client_id", sa.String(length=64), nullable=False),
        sa.Column("seen_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("portal", "client_id", name=op.f("pk_beacon_ids")),
    )
    with op.batch_alter_table("beacon_ids", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_beacon_ids_seen_at"), ["seen_at"], unique=False)

    op.create_table(
        "bot_daily",
        sa.Column("portal", sa.String(length=64), nullable=False),
        sa.Column("day", sa.Date(), nullable=False),
        sa.Column("reason", sa.String(length=32), nullable=False),
        sa.Column("count", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.PrimaryKeyConstraint("portal", "day", "reason", name=op.f("pk_bot_daily")),
    )
    op.create_table(
        "daily",
        sa.Column("portal", sa.String(length=64), nullable=False),
        sa.Column("day", sa.Date(), nullable=False),
        sa.Column(
            "pageviews", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False
        ),
        sa.Column("reloads", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("events", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("visits", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("bounces", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("visitors", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.PrimaryKeyConstraint("portal", "day", name=op.f("pk_daily")),
    )
    op.create_table(
        "events",
        sa.Column("portal", sa.String(length=64), nullable=False),
        sa.Column("ts", sa.DateTime(timezone=True), nullable=False),
        sa.Column("id", sa.BigInteger(), nullable=False),
        sa.Column("visitor", sa.String(length=16), nullable=False),
        sa.Column("kind", sa.String(length=8), nullable=False),
        sa.Column("name", sa.String(length=100), nullable=True),
        sa.Column("path", sa.String(length=1024), nullable=False),
        sa.Column("article", sa.String(length=64), nullable=True),
        sa.Column("category", sa.String(length=64), nullable=True),
        sa.Column("referrer", sa.String(length=255), nullable=True),
        sa.Column("device", sa.String(length=8), nullable=False),
        sa.Column("browser", sa.String(length=40), nullable=False),
        sa.Column("screen_width", sa.SmallInteger(), nullable=True),
        sa.PrimaryKeyConstraint("portal", "ts", "id", name=op.f("pk_events")),
        postgresql_partition_by="RANGE (ts)",
    )
    op.create_table(
        "hourly",
        sa.Column("portal", sa.String(length=64), nullable=False),
        sa.Column("hour", sa.DateTime(timezone=True), nullable=False),
        sa.Column(
            "pageviews", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False
        ),
        sa.Column("reloads", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("events", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("visits", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("bounces", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("visitors", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.PrimaryKeyConstraint("portal", "hour", name=op.f("pk_hourly")),
    )
    op.create_table(
        "salts",
        sa.Column("day", sa.Date(), nullable=False),
        sa.Column("salt", sa.LargeBinary(length=32), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("day", name=op.f("pk_salts")),
    )
    op.create_table(
        "top_daily",
        sa.Column("portal", sa.String(length=64), nullable=False),
        sa.Column("day", sa.Date(), nullable=False),
        sa.Column("dimension", sa.String(length=16), nullable=False),
        sa.Column("key", sa.String(length=1024), nullable=False),
        sa.Column(
            "pageviews", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False
        ),
        sa.Column("visits", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.PrimaryKeyConstraint("portal", "day", "dimension", "key", name=op.f("pk_top_daily")),
    )
    op.create_table(
        "visitor_days",
        sa.Column("portal", sa.String(length=64), nullable=False),
        sa.Column("day", sa.Date(), nullable=False),
        sa.Column("visitor", sa.String(length=16), nullable=False),
        sa.PrimaryKeyConstraint("portal", "day", "visitor", name=op.f("pk_visitor_days")),
    )
    op.create_table(
        "visitor_state",
        sa.Column("portal", sa.String(length=64), nullable=False),
        sa.Column("visitor", sa.String(length=16), nullable=False),
        sa.Column("last_ts", sa.DateTime(timezone=True), nullable=False),
        sa.Column("last_page_ts", sa.DateTime(timezone=True), nullable=True),
        sa.Column("last_path", sa.String(length=1024), nullable=True),
        sa.Column("visit_start", sa.DateTime(timezone=True), nullable=False),
        sa.Column("visit_pageviews", sa.Integer(), nullable=False),
        sa.Column("visit_events", sa.Integer(), nullable=False),
        sa.PrimaryKeyConstraint("portal", "visitor", name=op.f("pk_visitor_state")),
    )
    with op.batch_alter_table("visitor_state", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_visitor_state_last_ts"), ["last_ts"], unique=False)
    if op.get_bind().dialect.name == "postgresql":
        # The monthly partitions of `events` (created by the service as months come).
        op.execute("CREATE SCHEMA IF NOT EXISTS analytics_partitions")


def downgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        op.execute("DROP SCHEMA IF EXISTS analytics_partitions CASCADE")
    with op.batch_alter_table("visitor_state", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_visitor_state_last_ts"))

    op.drop_table("visitor_state")
    op.drop_table("visitor_days")
    op.drop_table("top_daily")
    op.drop_table("salts")
    op.drop_table("hourly")
    op.drop_table("events")
    op.drop_table("daily")
    op.drop_table("bot_daily")
    with op.batch_alter_table("beacon_ids", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_beacon_ids_seen_at"))

    op.drop_table("beacon_ids")
