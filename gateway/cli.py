"""The `portal` command: run, migrate and seed the platform.

portal dev                     the whole platform in one process, embedded defaults
portal serve <service>         one service (gateway, content, search, media, analytics)
portal migrate [service]       run database migrations
portal seed                    create the demo portals, people and content
"""

from __future__ import annotations

import asyncio
import importlib
import os
import time
from pathlib import Path
from typing import Annotated

import httpx
import typer
import uvicorn
from rich.console import Console

from gateway import server
from gateway.settings import SERVICES
from services.common.observability import configure_logging

cli = typer.Typer(help="Portal Platform: one backend for the federation's e-portals.")
console = Console(stderr=True)


def _migrated() -> tuple[str, ...]:
    """Services with a database: those that ship `services/<name>/migrations/`."""
    from services.common.migrate import SERVICES_DIR

    return tuple(
        name for name in SERVICES if (SERVICES_DIR / name / "migrations" / "env.py").exists()
    )


PortOpt = Annotated[int, typer.Option("--port", "-p", help="TCP port to listen on.")]
HostOpt = Annotated[str, typer.Option("--host", help="Interface to bind.")]
DataDirOpt = Annotated[
    Path, typer.Option("--data-dir", help="Where embedded databases, keys and media live.")
]


def main() -> None:
    cli()


def _database_url(service: str, data_dir: Path | None) -> str:
    from services.common.settings import ServiceSettings

    if service not in _migrated():
        raise typer.BadParameter(f"the {service} service has no database")
    module = importlib.import_module(f"services.{service}.settings")
    settings_cls: type[ServiceSettings] = getattr(module, f"{service.capitalize()}Settings")
    settings = settings_cls(data_dir=data_dir) if data_dir else settings_cls()
    if settings.database_url is None:
        settings.data_dir.mkdir(parents=True, exist_ok=True)
    return settings.resolved_database_url()


@cli.command()
def migrate(
    service: Annotated[str, typer.Argument(help="A service, or 'all'.")] = "all",
    data_dir: Annotated[Path | None, typer.Option("--data-dir")] = None,
) -> None:
    """Migrate service databases to the latest schema."""
    from services.common.migrate import upgrade

    migrated = _migrated()
    targets = migrated if service == "all" else (service,)
    for name in targets:
        if name not in migrated:
            console.print(
                f"[red]No migrations for '{name}'.[/] Services with a database: {migrated}"
            )
            raise typer.Exit(2)
        url = _database_url(name, data_dir)
        console.print(f"Migrating [bold]{name}[/] …")
        upgrade(name, url)
    console.print("[green]Migrations are up to date.[/]")


@cli.command()
def seed(
    data_dir: Annotated[Path | None, typer.Option("--data-dir")] = None,
) -> None:
    """Create the demo portals, accounts, categories, articles and legal documents."""
    migrate("content", data_dir)
    _seed(data_dir)


def _seed(data_dir: Path | None) -> None:
    from services.common.db import Database
    from services.content.demo.seed import seed_demo

    db = Database.from_url(_database_url("content", data_dir))

    async def run() -> None:
        try:
            await seed_demo(
                db,
                console=console,
                admin_password=os.environ.get("PORTAL_ADMIN_PASSWORD"),
                demo_password=os.environ.get("PORTAL_DEMO_PASSWORD"),
            )
        finally:
            await db.dispose()

    asyncio.run(run())


@cli.command()
def dev(
    port: PortOpt = 8000,
    host: HostOpt = "127.0.0.1",
    data_dir: DataDirOpt = Path("var"),
    demo: Annotated[bool, typer.Option(help="Seed demo data on first start.")] = True,
) -> None:
    """Run the whole platform in one process on embedded defaults (SQLite, local files)."""
    data_dir.mkdir(parents=True, exist_ok=True)
    migrate("all", data_dir)
    if demo:
        _seed(data_dir)
    from gateway.embedded import embedded_gateway

    configure_logging(os.environ.get("LOG_LEVEL", "INFO"), os.environ.get("LOG_FORMAT", "text"))
    app = embedded_gateway(data_dir)
    console.print(f"[bold green]Portal Platform[/] on http://{host}:{port}  (docs: /docs)")
    uvicorn.run(app, host=host, port=port, log_config=None, access_log=False, http=server.PROTOCOL)


@cli.command()
def serve(
    service: Annotated[str, typer.Argument(help="gateway, content, search, media or analytics.")],
    port: PortOpt = 8000,
    host: HostOpt = "0.0.0.0",
    workers: Annotated[int, typer.Option(help="Worker processes.")] = 1,
) -> None:
    """Run one service; configure it with its environment variables (see docs/)."""
    if service not in ("gateway", *SERVICES):
        console.print(f"[red]Unknown service '{service}'.[/] Choose gateway or one of {SERVICES}.")
        raise typer.Exit(2)
    if service == "search" and workers > 1:
        from services.search.settings import SearchSettings

        if SearchSettings().backend == "embedded":
            console.print(
                "[red]The embedded search index is served by one process[/] (tantivy lets "
                "one process write it). Use --workers 1, or several replicas on Meilisearch "
                "(SEARCH_BACKEND=meilisearch, see docs/search.md)."
            )
            raise typer.Exit(2)
    configure_logging(os.environ.get("LOG_LEVEL", "INFO"), os.environ.get("LOG_FORMAT", "json"))
    uvicorn.run(
        f"gateway.factories:{service}",
        factory=True,
        host=host,
        port=port,
        workers=workers,
        log_config=None,
        access_log=False,
        proxy_headers=False,
        http=server.PROTOCOL,
    )


search_cli = typer.Typer(help="Search index maintenance.")
cli.add_typer(search_cli, name="search")

UrlOpt = Annotated[str, typer.Option("--url", help="The gateway (or the search service) base URL.")]
UserOpt = Annotated[str, typer.Option("--username", "-u", help="A superadmin account.")]


def _admin_token(client: httpx.Client, username: str) -> str:
    password = os.environ.get("PORTAL_ADMIN_PASSWORD") or typer.prompt(
        f"Password for {username}", hide_input=True
    )
    response = client.post("/v1/auth/token", json={"username": username, "password": password})
    if response.status_code != 200:
        console.print(f"[red]Sign-in failed ({response.status_code}):[/] {_detail(response)}")
        raise typer.Exit(1)
    return str(response.json()["access_token"])


def _detail(response: httpx.Response) -> str:
    try:
        return str(response.json().get("detail", response.text))
    except ValueError:
        return response.text[:300]


def _run_job(kind: str, url: str, username: str) -> None:
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn

    try:
        with httpx.Client(base_url=url, timeout=30.0) as client:
            headers = {"Authorization": f"Bearer {_admin_token(client, username)}"}
            response = client.post(f"/v1/search/admin/{kind}", headers=headers)
            if response.status_code != 202:
                console.print(f"[red]Could not start {kind}:[/] {_detail(response)}")
                raise typer.Exit(1)
            columns = (TextColumn(f"{kind}"), BarColumn(), MofNCompleteColumn())
            with Progress(*columns, console=console) as progress:
                task = progress.add_task(kind, total=None)
                while True:
                    job = client.get("/v1/search/admin/jobs", headers=headers).json()
                    progress.update(task, completed=job["done"], total=job["total"])
                    if job["state"] != "running":
                        break
                    time.sleep(0.5)
    except httpx.HTTPError as exc:
        console.print(f"[red]Cannot reach {url}:[/] {exc}. Is the platform running (make run)?")
        raise typer.Exit(1) from exc
    if job["state"] == "failed":
        console.print(f"[red]{kind} failed:[/] {job['error']}")
        raise typer.Exit(1)
    console.print(
        f"[green]{kind} done:[/] {job['done']} documents; added {job['added']}, "
        f"updated {job['updated']}, removed {job['removed']}."
    )


@cli.command()
def reindex(url: UrlOpt = "http://127.0.0.1:8000", username: UserOpt = "admin") -> None:
    """Rebuild the search index from content and swap it in without downtime."""
    _run_job("reindex", url, username)


@search_cli.command("reconcile")
def search_reconcile(url: UrlOpt = "http://127.0.0.1:8000", username: UserOpt = "admin") -> None:
    """Compare content's published set with the search index and repair any drift."""
    _run_job("reconcile", url, username)


if __name__ == "__main__":
    main()
