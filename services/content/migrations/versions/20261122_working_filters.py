"""working tags, doc type and number: newsroom queues filter the working revision

Revision ID: 3e7a51c0d2b4
Revises: 9ca898e182ad
Create Date: 2026-11-22 06:10:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "3e7a51c0d2b4"
down_revision: str | None = "9ca898e182ad"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_items = sa.table(
    "items",
    sa.column("id", sa.String),
    sa.column("current_revision", sa.Integer),
    sa.column("working_tags", sa.Text),
    sa.column("working_doc_type", sa.String),
    sa.column("working_doc_number", sa.String),
)
_revisions = sa.table(
    "revisions",
    sa.column("item_id", sa.String),
    sa.column("number", sa.Integer),
    sa.column("data", sa.JSON),
)
BATCH = 1000


def upgrade() -> None:
    with op.batch_alter_table("items", schema=None) as batch_op:
        batch_op.add_column(sa.Column("working_tags", sa.Text(), nullable=True))
        batch_op.add_column(sa.Column("working_doc_type", sa.String(length=100), nullable=True))
        batch_op.add_column(sa.Column("working_doc_number", sa.String(length=100), nullable=True))
    # Fill them from each item's working revision (the same rule as `kinds.working_tags`),
    # a thousand items at a time: revisions carry whole bodies, a catalogue may be large.
    bind = op.get_bind()
    update = (
        _items.update()
        .where(_items.c.id == sa.bindparam("item_id"))
        .values(
            working_tags=sa.bindparam("tags"),
            working_doc_type=sa.bindparam("doc_type"),
            working_doc_number=sa.bindparam("number"),
        )
    )
    last = ""
    while True:
        rows = bind.execute(
            sa.select(_items.c.id, _revisions.c.data)
            .join(
                _revisions,
                sa.and_(
                    _revisions.c.item_id == _items.c.id,
                    _revisions.c.number == _items.c.current_revision,
                ),
            )
            .where(_items.c.id > last)
            .order_by(_items.c.id)
            .limit(BATCH)
        ).all()
        if not rows:
            break
        bind.execute(update, [_working(item_id, data) for item_id, data in rows])
        last = rows[-1][0]


def _working(item_id: str, data: dict[str, object]) -> dict[str, object]:
    tags = data.get("tags")
    return {
        "item_id": item_id,
        "tags": "\n" + "\n".join(tags) + "\n" if isinstance(tags, list) and tags else None,
        "doc_type": data.get("doc_type"),
        "number": data.get("number"),
    }


def downgrade() -> None:
    with op.batch_alter_table("items", schema=None) as batch_op:
        batch_op.drop_column("working_doc_number")
        batch_op.drop_column("working_doc_type")
        batch_op.drop_column("working_tags")
