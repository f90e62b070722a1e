"""The analytics tables: raw events, per-visitor working state, rollups, salts.

Nothing here holds an IP address or a user agent. `visitor` is a truncated keyed hash
whose key (the salt of the day) is deleted after 48 hours; once it is gone the ids can no
longer be linked to anyone, nor to each other across days.

    events          raw events, one row per counted beacon; PostgreSQL partitions it by
                    month (`PARTITION BY RANGE (ts)`), purged after `retention_days`
    visitor_days    (portal, day, visitor): the set that makes "unique per day" exact;
                    kept 48 h, its counts live on in `daily.visitors`
    visitor_state   per visitor: the open visit and the last page, for visits, bounces
                    and reloads; kept 48 h
    beacon_ids      client ids already stored, so a retried beacon counts once; kept 48 h
    hourly, daily   rollups per portal (no identifiers), read by reports
    top_daily       pageviews / visits per page, article, category, referrer, device, browser
    bot_daily       dropped beacons per reason per day (no identifiers)
    salts           the secret random salt of each local day
    ingest_batches  the batches written and what became of them, so a batch sent again
                    (its writer died before answering) is not counted twice; kept 48 h
"""

from __future__ import annotations

from sqlalchemy import (
    BigInteger,
    Column,
    Date,
    Integer,
    LargeBinary,
    PrimaryKeyConstraint,
    SmallInteger,
    String,
    Table,
)
from sqlalchemy.orm import DeclarativeBase

from services.common.db import UtcDateTime, make_metadata


class Base(DeclarativeBase):
    metadata = make_metadata()


metadata = Base.metadata

# Counters are plain integers: SQLite's INTEGER is 64-bit already, PostgreSQL's BIGINT.
Count = BigInteger().with_variant(Integer(), "sqlite")

events = Table(
    "events",
    metadata,
    Column("portal", String(64), nullable=False),
    Column("ts", UtcDateTime(), nullable=False),
    Column("id", BigInteger, nullable=False),
    Column("visitor", String(16), nullable=False),
    Column("kind", String(8), nullable=False),  # pageview | reload | event
    Column("name", String(100)),
    Column("path", String(1024), nullable=False),
    Column("article", String(64)),
    Column("category", String(64)),
    Column("referrer", String(255)),
    Column("device", String(8), nullable=False),
    Column("browser", String(40), nullable=False),
    Column("screen_width", SmallInteger),
    PrimaryKeyConstraint("portal", "ts", "id"),
    postgresql_partition_by="RANGE (ts)",
)

visitor_days = Table(
    "visitor_days",
    metadata,
    Column("portal", String(64), nullable=False),
    Column("day", Date, nullable=False),
    Column("visitor", String(16), nullable=False),
    PrimaryKeyConstraint("portal", "day", "visitor"),
)

visitor_state = Table(
    "visitor_state",
    metadata,
    Column("portal", String(64), nullable=False),
    Column("visitor", String(16), nullable=False),
    Column("last_ts", UtcDateTime(), nullable=False, index=True),
    Column("last_page_ts", UtcDateTime()),
    Column("last_path", String(1024)),
    Column("visit_start", UtcDateTime(), nullable=False),
    Column("visit_pageviews", Integer, nullable=False),
    Column("visit_events", Integer, nullable=False),
    PrimaryKeyConstraint("portal", "visitor"),
)

beacon_ids = Table(
    "beacon_ids",
    metadata,
    Column("portal", String(64), nullable=False),
    Column("client_id", String(64), nullable=False),
    Column("seen_at", UtcDateTime(), nullable=False, index=True),
    PrimaryKeyConstraint("portal", "client_id"),
)


def _rollup(name: str, bucket: Column[object]) -> Table:
    return Table(
        name,
        metadata,
        Column("portal", String(64), nullable=False),
        bucket,
        Column("pageviews", Count, nullable=False, default=0),
        Column("reloads", Count, nullable=False, default=0),
        Column("events", Count, nullable=False, default=0),
        Column("visits", Count, nullable=False, default=0),
        Column("bounces", Count, nullable=False, default=0),
        Column("visitors", Count, nullable=False, default=0),
        PrimaryKeyConstraint("portal", bucket.name),
    )


hourly = _rollup("hourly", Column("hour", UtcDateTime(), nullable=False))
daily = _rollup("daily", Column("day", Date, nullable=False))

top_daily = Table(
    "top_daily",
    metadata,
    Column("portal", String(64), nullable=False),
    Column("day", Date, nullable=False),
    Column("dimension", String(16), nullable=False),
    Column("key", String(1024), nullable=False),
    Column("pageviews", Count, nullable=False, default=0),
    Column("visits", Count, nullable=False, default=0),
    PrimaryKeyConstraint("portal", "day", "dimension", "key"),
)

bot_daily = Table(
    "bot_daily",
    metadata,
    Column("portal", String(64), nullable=False),
    Column("day", Date, nullable=False),
    Column("reason", String(32), nullable=False),
    Column("count", Count, nullable=False, default=0),
    PrimaryKeyConstraint("portal", "day", "reason"),
)

salts = Table(
    "salts",
    metadata,
    Column("day", Date, primary_key=True),
    Column("salt", LargeBinary(32), nullable=False),
    Column("created_at", UtcDateTime(), nullable=False),
)

ingest_batches = Table(
    "ingest_batches",
    metadata,
    Column("id", String(32), primary_key=True),
    Column("written_at", UtcDateTime(), nullable=False, index=True),
    Column("stored", Integer, nullable=False),
    Column("duplicates", Integer, nullable=False),
    Column("bots", Integer, nullable=False),
    Column("dropped", Integer, nullable=False, server_default="0"),
)
