"""`okpay kb ...` (help articles and search) and `okpay triage ...` (request triage)."""

from __future__ import annotations

import json
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Annotated

import typer
from sqlalchemy.orm import Session

kb_app = typer.Typer(help="Help-centre articles and search.", no_args_is_help=True)
triage_app = typer.Typer(
    help="Suggest a category and priority for a message: okpay triage --subject S --body B.",
    invoke_without_command=True,
)

LangOption = Annotated[str | None, typer.Option("--lang", help="zh or en (titles and snippets).")]


def _locale(lang: str | None) -> str:
    from okpay.core.i18n import normalise

    return normalise(lang) or "zh_CN"


@contextmanager
def _read_session() -> Iterator[Session | None]:
    """A read-only session, or None when the database cannot be opened (a fresh clone):
    search then runs over the repository's article files."""
    from sqlalchemy.exc import SQLAlchemyError

    from okpay.db import get_database

    try:
        ctx = get_database().unit_of_work(write=False)
        session = ctx.__enter__()
    except SQLAlchemyError:
        yield None
        return
    try:
        yield session
    finally:
        ctx.__exit__(None, None, None)


@kb_app.command("sync")
def kb_sync(
    force: Annotated[
        bool, typer.Option(help="Overwrite articles last edited on the web as well.")
    ] = False,
    directory: Annotated[
        Path | None, typer.Option(help="Article folder (default: the shipped articles).")
    ] = None,
) -> None:
    """Load the Markdown articles into the database (with history), train the search's intent
    model on them, then train triage."""
    from okpay.db import get_database
    from okpay.helpcenter import articles, service, triage

    with get_database().unit_of_work() as session:
        result = service.do_sync(session, root=directory or articles.ARTICLES_DIR, force=force)
        corrections = [c.as_training_row() for c in service.list_triage_corrections(session)]
    typer.echo(
        f"articles: {result.created} created, {result.updated} updated, "
        f"{result.unchanged} unchanged, {result.skipped_web_edits} kept (edited on the web)"
    )
    with _read_session() as session:
        intent = service.search_index(session).intent
    if intent is not None:
        typer.echo(
            f"search intent model trained on {intent.questions} questions "
            f"({intent.learned} learned from contact-form visits)"
        )
    model = triage.do_train(corrections)
    typer.echo(f"triage model trained on {model.examples} examples: {triage.model_path()}")


@kb_app.command("export")
def kb_export(
    directory: Annotated[Path, typer.Option(help="Where to write <locale>/<slug>.md.")],
) -> None:
    """Write the database's articles (with web edits) back to Markdown files."""
    from okpay.helpcenter import articles, service

    count = 0
    with _read_session() as session:
        if session is None:
            typer.echo("database not available", err=True)
            raise typer.Exit(1)
        for locale in articles.LOCALES:
            (directory / locale).mkdir(parents=True, exist_ok=True)
            for row in service.list_articles(session, locale=locale):
                if row.locale != locale:
                    continue
                path = directory / locale / f"{row.slug}.md"
                path.write_text(articles.dump(service.source_of(row)), encoding="utf-8")
                count += 1
    typer.echo(f"{count} articles written to {directory}")


@kb_app.command("search")
def kb_search(
    query: Annotated[str, typer.Argument(help="The question, in Chinese, English or pinyin.")],
    lang: LangOption = None,
    limit: Annotated[int, typer.Option(help="How many results.", min=1, max=50)] = 5,
    as_json: Annotated[bool, typer.Option("--json", help="Print a JSON list.")] = False,
) -> None:
    """Search the help centre: best first, with slug, title and score."""
    from okpay.helpcenter import service

    with _read_session() as session:
        hits = service.search(session, query=query, locale=_locale(lang), limit=limit)
    if as_json:
        rows = [
            {
                "slug": h.slug,
                "title": h.title,
                "score": h.score,
                "category": h.category,
                "snippet": str(h.snippet),
            }
            for h in hits
        ]
        typer.echo(json.dumps(rows, ensure_ascii=False))
        return
    if not hits:
        typer.echo("no results")
    for h in hits:
        typer.echo(f"{h.score:8.3f}  {h.slug:<28} {h.title}")


@kb_app.command("eval")
def kb_eval(
    dataset: Annotated[
        str | None,
        typer.Option(help="One file under helpcenter/data (by default every question set)."),
    ] = None,
    as_json: Annotated[bool, typer.Option("--json")] = False,
    misses: Annotated[bool, typer.Option(help="List queries not answered first.")] = False,
) -> None:
    """Recall@1, recall@3 and MRR of search on each question set, and the share of questions
    no article answers that get no result."""
    from okpay.helpcenter import evaluation, service
    from okpay.helpcenter.search import HELP_RELEVANCE

    names = [dataset] if dataset else list(evaluation.SEARCH_SETS)
    reports: dict[str, dict[str, object]] = {}
    with _read_session() as session:
        index = service.search_index(session)
        for name in names:
            report = evaluation.evaluate_search(
                lambda q: [h.slug for h in index.search(q, limit=10, relevance=HELP_RELEVANCE)],
                evaluation.search_eval_rows(name),
            )
            reports[name.removesuffix(".jsonl")] = report.as_dict()
    _print_reports(reports, one=dataset is not None, as_json=as_json, misses=misses)


def _print_reports(
    reports: dict[str, dict[str, object]], *, one: bool, as_json: bool, misses: bool
) -> None:
    """Print evaluation figures: one set's alone, or every set's under its name (JSON keyed
    by set)."""
    if one:
        _report(next(iter(reports.values())), as_json=as_json, misses=misses)
        return
    if as_json:
        for figures in reports.values():
            if not misses:
                figures.pop("misses")
        typer.echo(json.dumps(reports, ensure_ascii=False))
        return
    for name, figures in reports.items():
        typer.echo(name)
        _report(figures, as_json=False, misses=misses)


def _report(figures: dict[str, object], *, as_json: bool, misses: bool) -> None:
    missed = figures.pop("misses")
    if misses:
        figures["misses"] = missed
    if as_json:
        typer.echo(json.dumps(figures, ensure_ascii=False))
        return
    for key, value in figures.items():
        if key != "misses":
            typer.echo(f"{key:>18}: {value}")
    if misses:
        for miss in missed:  # type: ignore[attr-defined]
            typer.echo(f"  miss: {json.dumps(miss, ensure_ascii=False)}")


@triage_app.callback()
def triage_main(
    ctx: typer.Context,
    subject: Annotated[str, typer.Option(help="The request's subject.")] = "",
    body: Annotated[str, typer.Option(help="The request's text.")] = "",
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON.")] = False,
) -> None:
    """Suggest a category and priority, with the model's confidence."""
    if ctx.invoked_subcommand is not None:
        return
    if not subject and not body:
        typer.echo(ctx.get_help())
        raise typer.Exit(2)
    from okpay.helpcenter import triage

    suggestion = triage.suggest(subject, body)
    out = {
        "category": suggestion.category,
        "priority": suggestion.priority,
        "confidence": round(suggestion.confidence, 4),
        "category_confidence": round(suggestion.category_confidence, 4),
        "priority_confidence": round(suggestion.priority_confidence, 4),
        "unsure": suggestion.unsure,
        "alternatives": [
            {"category": code, "confidence": round(p, 4)} for code, p in suggestion.alternatives
        ],
    }
    if as_json:
        typer.echo(json.dumps(out, ensure_ascii=False))
    else:
        typer.echo(
            f"category {out['category']} ({out['category_confidence']:.2f}), "
            f"priority {out['priority']} ({out['priority_confidence']:.2f})"
        )
        if suggestion.unsure:
            a, b = suggestion.alternatives[:2]
            typer.echo(f"unsure: {a[0]} ({a[1]:.2f}) or {b[0]} ({b[1]:.2f})")


@triage_app.command("train")
def triage_train() -> None:
    """Retrain on the shipped training set, the articles' questions and agents' corrections."""
    from okpay.helpcenter import service, triage

    corrections: list[dict[str, object]] = []
    with _read_session() as session:
        if session is not None:
            try:
                corrections = [
                    c.as_training_row() for c in service.list_triage_corrections(session)
                ]
            except Exception:  # no schema yet: train on the shipped data alone
                session.rollback()
    model = triage.do_train(corrections)
    typer.echo(
        f"trained on {model.examples} examples ({len(corrections)} corrections): "
        f"{triage.model_path()}"
    )


@triage_app.command("eval")
def triage_eval(
    dataset: Annotated[
        str | None,
        typer.Option(help="One file under helpcenter/data (by default every ticket set)."),
    ] = None,
    as_json: Annotated[bool, typer.Option("--json")] = False,
    misses: Annotated[bool, typer.Option(help="List the messages it got wrong.")] = False,
) -> None:
    """Accuracy, macro-F1, priority accuracy and urgent recall on each held-out ticket set."""
    from okpay.helpcenter import evaluation, triage

    model = triage.current_model()

    def suggest(subject: str, body: str) -> tuple[str, str]:
        s = model.suggest(subject, body)
        return s.category, s.priority

    names = [dataset] if dataset else list(evaluation.TRIAGE_SETS)
    reports = {
        name.removesuffix(".jsonl"): evaluation.evaluate_triage(
            suggest, evaluation.eval_rows(name)
        ).as_dict()
        for name in names
    }
    _print_reports(reports, one=dataset is not None, as_json=as_json, misses=misses)
