"""`okpay community ...`: the forum's categories (list, add, sync the defaults)."""

from __future__ import annotations

from typing import Annotated

import typer

app = typer.Typer(help="The community forum (用户社区).", no_args_is_help=True)
categories_app = typer.Typer(help="The forum's categories.", no_args_is_help=True)
app.add_typer(categories_app, name="categories")


@categories_app.command("list")
def categories_list() -> None:
    """Every category: short name, names in both languages, position."""
    from okpay.community import categories
    from okpay.db import get_database

    with get_database().unit_of_work(write=False) as s:
        rows = categories.list_categories(s)
        for c in rows:
            typer.echo(f"{c.position:>4}  {c.slug:<24} {c.name_zh} / {c.name_en}")
        if not rows:
            typer.echo("no categories yet: run `okpay community categories sync`")


@categories_app.command("sync")
def categories_sync() -> None:
    """Add the default categories that are missing (safe to run again)."""
    from okpay.community import categories
    from okpay.db import get_database

    with get_database().unit_of_work() as s:
        added = categories.do_sync(s)
    typer.echo(f"{added} categories added")


@categories_app.command("add")
def categories_add(
    slug: Annotated[str, typer.Argument(help="Short name in the address, e.g. merchant-api.")],
    name_zh: Annotated[str, typer.Option("--zh", help="Name in Chinese.")],
    name_en: Annotated[str, typer.Option("--en", help="Name in English.")],
    description_zh: Annotated[str, typer.Option("--description-zh")] = "",
    description_en: Annotated[str, typer.Option("--description-en")] = "",
    position: Annotated[int | None, typer.Option(help="Order in lists (lower first).")] = None,
) -> None:
    """Add a category."""
    from okpay.community import categories
    from okpay.core.errors import DomainError
    from okpay.db import get_database

    try:
        with get_database().unit_of_work() as s:
            row = categories.do_add(
                s, slug=slug, name_zh=name_zh, name_en=name_en, description_zh=description_zh,
                description_en=description_en, position=position,
            )  # fmt: skip
            typer.echo(f"added {row.slug}")
    except DomainError as err:
        typer.echo(f"refused: {err.translated()}", err=True)
        raise typer.Exit(1) from err


def load_demo() -> int:
    """Default categories and the demo threads (for `okpay demo load`)."""
    from okpay.community import demo
    from okpay.db import get_database

    with get_database().unit_of_work() as s:
        return demo.load(s)
