"""The `llmportal` command: serve, migrate, user create/set-plan, config check, backup, restore,
storage migrate."""

from __future__ import annotations

import argparse
import asyncio
import sys
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

from llmportal.config import ConfigError, Settings, check_storage_url, load_settings
from llmportal.errors import PortalError

_SECRET_FIELDS = {"secret_key", "stripe_secret_key", "stripe_webhook_secret", "metrics_token"}


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="llmportal", description="A self-hostable LLM portal.")
    p.add_argument("--config", help="TOML configuration file (or LLMPORTAL_CONFIG)")
    sub = p.add_subparsers(dest="command", required=True)

    serve = sub.add_parser("serve", help="migrate the database, then serve HTTP")
    serve.add_argument("--host")
    serve.add_argument("--port", type=int)
    serve.add_argument("--workers", type=int, default=1)
    serve.add_argument("--config", dest="sub_config")

    migrate = sub.add_parser("migrate", help="upgrade the database schema and exit")
    migrate.add_argument("--config", dest="sub_config")

    user = sub.add_parser("user", help="manage users").add_subparsers(
        dest="user_cmd", required=True
    )
    create = user.add_parser("create", help="create a user")
    create.add_argument("--email", required=True)
    create.add_argument("--password", required=True)
    create.add_argument("--name")
    create.add_argument("--admin", action="store_true")
    create.add_argument("--verified", action="store_true")
    create.add_argument("--config", dest="sub_config")
    plan = user.add_parser("set-plan", help="put a user on a plan")
    plan.add_argument("--email", required=True)
    plan.add_argument("--plan", required=True)
    plan.add_argument("--config", dest="sub_config")

    for name, helptext in (
        ("backup", "copy the database to FILE (SQLite, online)"),
        ("restore", "replace the database with the backup FILE (stop the portal first)"),
    ):
        cmd = sub.add_parser(name, help=helptext)
        cmd.add_argument("file", metavar="FILE")
        cmd.add_argument("--config", dest="sub_config")

    storage = sub.add_parser("storage", help="file storage").add_subparsers(
        dest="storage_cmd", required=True
    )
    move = storage.add_parser("migrate", help="copy every stored file to another store")
    move.add_argument("--to", required=True, help="s3://bucket/prefix (or a directory)")
    move.add_argument("--from", dest="source", help="default: STORAGE_URL or STORAGE_DIR")
    move.add_argument("--config", dest="sub_config")

    config = sub.add_parser("config", help="configuration").add_subparsers(
        dest="config_cmd", required=True
    )
    check = config.add_parser("check", help="validate and print the configuration")
    check.add_argument("--config", dest="sub_config")
    return p


def _mask(value: Any) -> Any:
    if isinstance(value, str) and value:
        return value[:2] + "****" if len(value) > 8 else "****"
    return value


def _mask_url(url: str | None) -> str | None:
    if not url or "@" not in url:
        return url
    scheme, _, rest = url.partition("://")
    creds, _, host = rest.rpartition("@")
    user = creds.split(":", 1)[0]
    return f"{scheme}://{user}:****@{host}"


def describe(settings: Settings) -> str:
    lines = []
    for name, value in settings.model_dump(exclude={"catalog"}).items():
        if name in _SECRET_FIELDS:
            value = _mask(value)
        elif name.endswith("_url"):
            value = _mask_url(value)
        lines.append(f"{name.upper()} = {value!r}")
    cat = settings.catalog
    lines.append(f"default_model = {cat.default_model!r}")
    for prov in cat.providers:
        key = "set" if prov.resolved_api_key() else "unset"
        if prov.api_key_env and not prov.api_key:
            key += f" (from {prov.api_key_env})"
        kind = f"{prov.type} preset={prov.preset}" if prov.preset else prov.type
        lines.append(f"provider {prov.id}: type={kind} base_url={prov.base_url} api_key={key}")
    for m in cat.models:
        lines.append(f"model {m.id}: provider={m.provider} upstream={m.wire_name}")
    for plan in cat.plans:
        lines.append(
            f"plan {plan.tier}: {plan.name}, {plan.monthly_tokens} tokens/month, "
            f"{plan.api_keys} keys, {plan.monthly_price} cents/month"
        )
    return "\n".join(lines)


async def _with_db(settings: Settings, work: Callable[[Any], Awaitable[str]]) -> str:
    from llmportal.db import create_engine, make_sessionmaker, transaction
    from llmportal.migrate import upgrade_async

    await upgrade_async(settings.database_url)
    engine = create_engine(settings.database_url)
    try:
        async with transaction(make_sessionmaker(engine)) as db:
            return await work(db)
    finally:
        await engine.dispose()


def _run_user(args: argparse.Namespace, settings: Settings) -> str:
    from llmportal.users import service

    async def create(db: Any) -> str:
        user = await service.create_user(
            db,
            email=args.email,
            password=args.password,
            name=args.name,
            admin=args.admin,
            verified=args.verified,
        )
        return f"created user {user.email} ({user.id}, role {user.role})"

    async def set_plan(db: Any) -> str:
        tiers = [p.tier for p in settings.catalog.plans]
        user = await service.set_plan(db, args.email, args.plan, tiers)
        return f"user {user.email} is now on plan {user.plan_tier}"

    return asyncio.run(_with_db(settings, create if args.user_cmd == "create" else set_plan))


def _run_storage_migrate(args: argparse.Namespace, settings: Settings) -> tuple[str, bool]:
    from llmportal.storage import open_url
    from llmportal.storage.migrate import migrate

    source_url = args.source or settings.storage_url or settings.storage_dir
    target_url = args.to
    for flag, url in (("--to", target_url), ("--from", source_url)):
        try:
            check_storage_url(url)
        except ValueError as exc:
            raise ConfigError(f"invalid {flag} {url}: {exc}") from None
    if not source_url.startswith("s3://") and not Path(source_url).is_dir():
        raise ConfigError(f"invalid --from: {source_url} is not a directory")
    kw = {"endpoint_url": settings.s3_endpoint_url, "region": settings.s3_region}
    source, target = open_url(source_url, **kw), open_url(target_url, **kw)
    if source.url == target.url:
        raise ConfigError("invalid --to: it is the store being copied")

    async def run() -> tuple[str, bool]:
        try:
            report = await migrate(source, target)
        finally:
            await source.close()
            await target.close()
        done = report.summary(source.url, target.url)
        if report.failed == 0:
            done += f"\nset LLMPORTAL_STORAGE_URL={target.url} on every instance to serve from it"
        return done, report.failed == 0

    return asyncio.run(run())


def main(argv: list[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    config_file = getattr(args, "sub_config", None) or args.config
    try:
        overrides: dict[str, Any] = {}
        if args.command == "serve":
            if args.host:
                overrides["host"] = args.host
            if args.port:
                overrides["port"] = args.port
        settings = load_settings(config_file, **overrides)
        if args.command == "config":
            print(describe(settings))
            print("configuration OK")
        elif args.command == "migrate":
            from llmportal.migrate import upgrade

            upgrade(settings.database_url)
            print("database is up to date")
        elif args.command in ("backup", "restore"):
            from llmportal import backup

            run = backup.backup if args.command == "backup" else backup.restore
            print(run(settings.database_url, args.file))
        elif args.command == "user":
            print(_run_user(args, settings))
        elif args.command == "storage":
            summary, ok = _run_storage_migrate(args, settings)
            print(summary)
            if not ok:
                return 1
        elif args.command == "serve":
            from llmportal.server import serve

            serve(settings, workers=args.workers)
    except ConfigError as exc:
        print(f"llmportal: {exc}", file=sys.stderr)
        return 2
    except PortalError as exc:
        print(f"llmportal: {exc.message}", file=sys.stderr)
        return 1
    except OSError as exc:
        print(f"llmportal: {exc}", file=sys.stderr)
        return 1
    return 0
