"""Alembic for every service: each owns `services/<name>/migrations/` and its version table.

`upgrade(service, url)` runs a service's migrations to head (used by `portal migrate`,
`portal dev` and the test fixtures). Each service's `env.py` calls `run_env()` with its own
metadata, so all four read alike.
"""

from __future__ import annotations

import asyncio
import threading
from pathlib import Path

from alembic import command, context
from alembic.config import Config
from sqlalchemy import MetaData
from sqlalchemy.engine import Connection
from sqlalchemy.ext.asyncio import create_async_engine

SERVICES_DIR = Path(__file__).resolve().parent.parent


def alembic_config(service: str, url: str) -> Config:
    cfg = Config()
    cfg.set_main_option("script_location", str(SERVICES_DIR / service / "migrations"))
    cfg.set_main_option("sqlalchemy.url", url.replace("%", "%%"))
    cfg.set_main_option("file_template", "%%(year)d%%(month).2d%%(day).2d_%%(slug)s")
    cfg.attributes["service"] = service
    return cfg


def upgrade(service: str, url: str, revision: str = "head") -> None:
    """Migrate `service`'s database at `url` to `revision` (safe to call from async code)."""
    cfg = alembic_config(service, url)
    try:
        asyncio.get_running_loop()
    except RuntimeError:
        command.upgrade(cfg, revision)
        return
    failure: list[BaseException] = []

    def target() -> None:
        try:
            command.upgrade(cfg, revision)
        except BaseException as exc:  # re-raised in the caller's thread
            failure.append(exc)

    thread = threading.Thread(target=target)
    thread.start()
    thread.join()
    if failure:
        raise failure[0]


def downgrade(service: str, url: str, revision: str = "base") -> None:
    command.downgrade(alembic_config(service, url), revision)


def autogenerate(service: str, url: str, message: str) -> None:
    """Write a new migration of `service` from its models (developers only)."""
    command.revision(alembic_config(service, url), message=message, autogenerate=True)


def run_env(metadata: MetaData, service: str) -> None:
    """Body of a service's `migrations/env.py`."""
    url = context.config.get_main_option("sqlalchemy.url")
    assert url, "sqlalchemy.url is not set"
    version_table = f"alembic_version_{service}"

    def do_run(connection: Connection) -> None:
        context.configure(
            connection=connection,
            target_metadata=metadata,
            version_table=version_table,
            render_as_batch=connection.dialect.name == "sqlite",
            compare_type=True,
        )
        with context.begin_transaction():
            context.run_migrations()

    if context.is_offline_mode():
        context.configure(url=url, target_metadata=metadata, version_table=version_table)
        with context.begin_transaction():
            context.run_migrations()
        return

    async def run_async() -> None:
        engine = create_async_engine(url)
        async with engine.connect() as connection:
            await connection.run_sync(do_run)
            await connection.commit()
        await engine.dispose()

    asyncio.run(run_async())
