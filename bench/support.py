"""Service-centre speed: tickets opened per second through the service (the path every
channel ends in), and the agent queue's query at 1,000,000 tickets.

The queue is measured through ``support.console.queue``, the very function the /agent page
and /api/v1/agent/queue call (ids from the indexes, then the page's tickets, timers and
assignee names). The floor is the bare SQL a hand-written queue would run for the same
tab: one index range scan of ``ix_ticket_queue`` for one (team, status), so
``queue_ratio_to_floor`` shows what the merge over statuses, the ORM and the timers cost.

Tickets are bulk-loaded with INSERT ... SELECT generate_series: a year of history, 3 % of
them unfinished (30,000 waiting: new, open, pending customer, on hold), spread over the four
teams, priorities, assignees and due times from a day overdue to four days ahead.

    OKPAY_BENCH_DATABASE_URL=postgresql+psycopg://postgres@127.0.0.1:5432/test \\
        .venv/bin/python bench/support.py [--tickets 1000000] [--created 300]

Progress goes to stderr; the last stdout line is one JSON object. The SMTP listener's rate
is measured by bench/support_mail.py, which this script runs and whose figures it reports
as ``smtp_*``. ``api_tickets_per_s`` is tickets opened over HTTP through
``POST /api/v1/support/tickets`` against ``okpay serve --workers 2``, by 8 concurrent clients
for five seconds, with the bearer tokens of 40 customers (each may open 30 requests an hour).
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from typing import Any

from common import bench_url as _bench_url
from common import logger, percentile

SCHEMA = "okpay_bench_support"
log = logger("support")


def configure(url: str) -> None:
    os.environ.update(
        {
            "OKPAY_DATABASE_URL": url,
            "OKPAY_ENV": "test",
            "OKPAY_DATA_DIR": tempfile.mkdtemp(prefix="okpay-bench-support-"),
            "OKPAY_JOBS_IMMEDIATE": "true",
            "OKPAY_SMTP_HOST": "",
        }
    )


AGENTS = 8

# One statement: a year of tickets. ``s`` spreads statuses (3 % unfinished), ``t`` teams,
# due times run from a day overdue to four days ahead.
BULK_SQL = """
INSERT INTO ticket (
    number, subject, channel, category, priority, status, team, assignee_id,
    requester_user_id, requester_name, requester_email, locale, "references", tags, context,
    created_at, updated_at, first_reply_due_at, first_replied_at, resolution_due_at,
    next_due_at, paused_at, resolved_at, closed_at, thread_message_id, rating, rated_at
)
SELECT
    'OK-2025-' || lpad(g::text, 7, '0'),
    'Bench request ' || g || ' about '
        || (ARRAY['top-up', 'withdrawal', 'password', 'fees'])[1 + g % 4],
    (ARRAY['web', 'email', 'chat', 'feedback', 'phone'])[1 + g % 5],
    (ARRAY['topup', 'withdrawal', 'login_password', 'transfer_payment', 'fees',
           'duplicate_charge'])[1 + (g / 7) % 6],
    (ARRAY['low', 'normal', 'normal', 'normal', 'high', 'urgent'])[1 + (g / 3) % 6],
    st.status,
    (ARRAY['frontline', 'frontline', 'frontline', 'frontline', 'frontline', 'frontline',
           'technical', 'technical', 'security', 'compliance'])[1 + (g::bigint * 104729) % 10],
    CASE WHEN g % 3 = 0 THEN NULL
         ELSE (CAST(:agents AS bigint[]))[1 + g % CAST(:agent_count AS integer)] END,
    NULL,
    'Customer ' || (g % 50000),
    'customer' || (g % 50000) || '@example.com',
    CASE WHEN g % 4 = 0 THEN 'en' ELSE 'zh_CN' END,
    '[]'::json, '[]'::json, '{}'::json,
    c.created, c.created,
    CASE WHEN st.running THEN c.due ELSE c.created + interval '24 hours' END,
    CASE WHEN st.status IN ('new') THEN NULL ELSE c.created + interval '3 hours' END,
    c.due + interval '48 hours',
    CASE WHEN st.running THEN c.due ELSE NULL END,
    CASE WHEN st.status = 'pending_customer' THEN c.created + interval '3 hours' ELSE NULL END,
    CASE WHEN st.status IN ('resolved', 'closed') THEN c.created + interval '20 hours' END,
    CASE WHEN st.status = 'closed' THEN c.created + interval '8 days' END,
    '<bench-' || g || '@okpay.local>',
    CASE WHEN st.status IN ('resolved', 'closed') AND g % 4 = 0 THEN 1 + g % 5 END,
    CASE WHEN st.status IN ('resolved', 'closed') AND g % 4 = 0
         THEN c.created + interval '21 hours' END
FROM generate_series(CAST(:first AS integer), CAST(:last AS integer)) AS g
CROSS JOIN LATERAL (
    SELECT CASE
        WHEN (g::bigint * 7919) % 1000 < 5 THEN 'new'
        WHEN (g::bigint * 7919) % 1000 < 17 THEN 'open'
        WHEN (g::bigint * 7919) % 1000 < 25 THEN 'pending_customer'
        WHEN (g::bigint * 7919) % 1000 < 30 THEN 'on_hold'
        WHEN (g::bigint * 7919) % 1000 < 60 THEN 'resolved'
        ELSE 'closed' END AS status
) AS s0
CROSS JOIN LATERAL (
    SELECT s0.status, s0.status IN ('new', 'open', 'on_hold') AS running
) AS st
CROSS JOIN LATERAL (
    SELECT
        CASE WHEN st.running
             THEN now() - (g::bigint * 31337 % 259200) * interval '1 second'
             ELSE now() - (CAST(:total AS integer) - g) * interval '31 seconds' END AS created,
        now() + ((g::bigint * 31337) % 432000 - 86400) * interval '1 second' AS due
) AS c
"""


def prepare(url: str, total: int) -> list[int]:
    """A fresh schema with agents in teams and ``total`` bulk-loaded tickets."""
    from sqlalchemy import text

    from okpay import migrate
    from okpay.db import get_database
    from okpay.identity import operators as identity_operators
    from okpay.identity.models import Role
    from okpay.support import agents

    db = get_database(url)
    with db.engine.begin() as conn:
        conn.execute(text(f"DROP SCHEMA IF EXISTS {SCHEMA} CASCADE"))
        conn.execute(text(f"CREATE SCHEMA {SCHEMA}"))
    migrate.upgrade(url)
    teams = ["frontline", "frontline", "frontline", "frontline", "technical", "technical",
             "security", "compliance"]  # fmt: skip
    ids = []
    with db.unit_of_work() as s:
        for i in range(AGENTS):
            user = identity_operators.do_create_user(
                s, email=f"agent{i}@bench.okpay.example", password="bench passphrase 2026",
                role=Role.agent, name=f"Agent {i}",
            )  # fmt: skip
            agents.set_agent_team(s, user=user, team=teams[i])
            ids.append(user.id)
    log(f"bulk-loading {total:,} tickets")
    t0 = time.perf_counter()
    step = 200_000
    with db.engine.begin() as conn:
        for first in range(1, total + 1, step):
            last = min(total, first + step - 1)
            conn.execute(
                text(BULK_SQL),
                {"first": first, "last": last, "total": total, "agents": ids,
                 "agent_count": AGENTS},
            )  # fmt: skip
            log(f"  {last:,} loaded ({time.perf_counter() - t0:.0f} s)")
    with db.engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
        conn.execute(text("VACUUM ANALYZE ticket"))
    log(f"loaded and analysed in {time.perf_counter() - t0:.0f} s")
    return ids


def existing_agents(url: str) -> list[int]:
    from sqlalchemy import text

    from okpay.db import get_database

    with get_database(url).engine.connect() as conn:
        rows = conn.execute(
            text("SELECT id FROM user_account WHERE email LIKE 'agent%@bench.okpay.example'")
        )
        return sorted(int(r[0]) for r in rows)


def date_today() -> Any:
    from okpay.core import clock
    from okpay.support.console import reports

    return clock.now().astimezone(reports.report_zone()).date()


def timed(fn: Callable[[], Any], rounds: int) -> list[float]:
    out = []
    for _ in range(rounds):
        t0 = time.perf_counter()
        fn()
        out.append((time.perf_counter() - t0) * 1000)
    return out


def measure_queue(url: str, agent_ids: list[int], rounds: int) -> dict[str, Any]:
    from sqlalchemy import text

    from okpay.db import get_database
    from okpay.identity import users as identity_users
    from okpay.support.console import queues, reports

    db = get_database(url)
    results: dict[str, list[float]] = {}
    with db.unit_of_work(write=False) as s:
        agent = identity_users.get_user(s, agent_ids[1])
        assert agent is not None
        sample = s.execute(
            text("SELECT number, requester_email FROM ticket WHERE status = 'open' LIMIT 1")
        ).one()

        def view(name: str, pages: int = 1, **filters: Any) -> None:
            def run() -> None:
                after = None
                for _ in range(pages):
                    page = queues.queue(s, agent=agent, filters=queues.QueueFilter(**filters),
                                         after=after)  # fmt: skip
                    after = queues.Cursor.decode(page.next_cursor or "")
                    if after is None:
                        break

            run()  # warm
            results[name] = [t / pages for t in timed(run, rounds)]

        view("all_teams")
        for team in ("frontline", "technical", "security", "compliance"):
            view(f"team_{team}", team=team)
        view("mine", assignee="mine")
        view("unassigned_frontline", team="frontline", assignee="unassigned")
        view("urgent_frontline", team="frontline", priority="urgent")
        view("pending_customer", statuses=("pending_customer",))
        view("frontline_pages_1_to_10", pages=10, team="frontline")
        view("search_number", statuses=(), search=sample.number)
        view("search_email", statuses=(), search=sample.requester_email)
        view("search_subject_unfinished", search="password")
        queue_all = [v for values in results.values() for v in values]
        counts = timed(lambda: queues.queue_counts(s), rounds)
        text_search = timed(
            lambda: queues.queue(
                s, agent=agent, filters=queues.QueueFilter(statuses=(), search="password")
            ),
            max(3, rounds // 10),
        )
        from datetime import timedelta

        last_day = date_today()
        report_ms = timed(
            lambda: reports.report(s, start=last_day - timedelta(days=29), end=last_day), 3
        )
        floor_sql = text(
            "SELECT id, next_due_at FROM ticket WHERE team = 'frontline' AND status = 'open' "
            "AND next_due_at IS NOT NULL ORDER BY next_due_at, id LIMIT 51"
        )
        s.execute(floor_sql).all()
        floor = timed(lambda: s.execute(floor_sql).all(), rounds)
        plan = "\n".join(r[0] for r in s.execute(text("EXPLAIN " + str(_compiled_queue(s, agent)))))
    uses_index = "ix_ticket_queue" in plan or "ix_ticket_status_due" in plan
    return {
        "queue_p50_ms": round(percentile(queue_all, 50), 2),
        "queue_p99_ms": round(percentile(queue_all, 99), 2),
        "queue_views": {k: round(percentile(v, 99), 2) for k, v in results.items()},
        "queue_floor_p99_ms": round(percentile(floor, 99), 3),
        "queue_ratio_to_floor": round(
            percentile(queue_all, 99) / max(percentile(floor, 99), 1e-6), 1
        ),
        "counts_p99_ms": round(percentile(counts, 99), 2),
        "report_30_days_ms": round(statistics.median(report_ms)),
        "subject_search_all_statuses_p99_ms": round(percentile(text_search, 99), 1),
        "queue_plan_uses_queue_indexes": uses_index,
    }


def _compiled_queue(s: Any, agent: Any) -> str:
    """The id query of the frontline tab, with its parameters inlined, for EXPLAIN."""
    from sqlalchemy import select, union_all
    from sqlalchemy.dialects import postgresql

    from okpay.support.console import queues

    branches = queues.branches(
        queues.QueueFilter(team="frontline"), agent=agent, after=None, limit=51
    )
    subs = [b.subquery() for b in branches]
    merged = union_all(*[select(q.c.id, q.c.next_due_at) for q in subs]).subquery()
    stmt = select(merged.c.id).order_by(merged.c.next_due_at, merged.c.id).limit(51)
    return str(stmt.compile(dialect=postgresql.dialect(), compile_kwargs={"literal_binds": True}))


def measure_creation(url: str, count: int) -> dict[str, Any]:
    """Tickets opened one by one, each its own unit of work, as the contact form does:
    validation, triage, routing, number, SLA, first message, acknowledgement e-mail."""
    from okpay.db import get_database
    from okpay.support import tickets

    db = get_database(url)
    bodies = [
        ("Top-up not arrived", "I topped up 100 yuan by bank transfer and it is not there."),
        ("提现失败", "提现到银行卡失败了，钱会退回吗？"),
        ("Charged twice", "Paid once at a coffee shop but I see two payments of 32 CNY."),
        ("忘记密码", "忘记密码，收不到重置邮件。"),
    ]

    def one(i: int) -> None:
        subject, body = bodies[i % len(bodies)]
        with db.unit_of_work() as s:
            tickets.do_open_ticket(
                s,
                tickets.NewTicket(
                    channel="web", subject=f"{subject} {i}", body=body, name=f"Guest {i}",
                    email=f"guest{i}@example.com",
                ),
            )  # fmt: skip

    for i in range(5):
        one(-1 - i)
    t0 = time.perf_counter()
    latencies = []
    for i in range(count):
        started = time.perf_counter()
        one(i)
        latencies.append((time.perf_counter() - started) * 1000)
    elapsed = time.perf_counter() - t0
    return {
        "tickets_per_s": round(count / elapsed, 1),
        "ticket_create_p50_ms": round(statistics.median(latencies), 1),
        "ticket_create_p99_ms": round(percentile(latencies, 99), 1),
    }


def measure_api(url: str, seconds: float, clients: int = 8, customers: int = 40) -> dict[str, Any]:
    """Tickets opened through the customer JSON API over real HTTP: `okpay serve` with 2
    workers (bench/httpload.py), ``clients`` concurrent clients for ``seconds``, with the
    bearer tokens of ``customers`` accounts (each may open 30 requests an hour)."""
    import asyncio
    from pathlib import Path

    import httpx
    from httpload import p, run_load, serve

    from okpay.db import get_database
    from okpay.identity import operators as identity_operators
    from okpay.identity.models import Role

    password = "bench-password-2026"
    emails = [f"api-bench-{i}-{time.time_ns()}@example.com" for i in range(customers)]
    with get_database(url).unit_of_work() as s:
        for email in emails:
            user = identity_operators.do_create_user(
                s, email=email, password=password, role=Role.customer, name="Bench"
            )
            user.email_verified_at = user.created_at
    os.environ.update(OKPAY_MAIL_IN_PORT="0", OKPAY_JOBS_IMMEDIATE="false",
                      OKPAY_EMBEDDED_WORKER="false")  # fmt: skip
    with serve(url, Path(os.environ["OKPAY_DATA_DIR"]), workers=2) as base:
        tokens = [
            httpx.post(
                f"{base}/api/v1/auth/login", json={"email": email, "password": password}
            ).json()["token"]
            for email in emails
        ]

        async def open_one(client: httpx.AsyncClient, i: int) -> httpx.Response:
            return await client.post(
                "/api/v1/support/tickets",
                json={"subject": f"Top-up not arrived {i}",
                      "body": "I topped up 100 yuan by bank transfer; it is not there."},
                headers={"Authorization": f"Bearer {tokens[i % len(tokens)]}"},
            )  # fmt: skip

        # Warm both server processes up (imports, catalogs, the triage model), untimed.
        asyncio.run(run_load(base, 2, 2, open_one, ok=(201,)))
        done, latencies, failures = asyncio.run(
            run_load(base, seconds, clients, open_one, ok=(201,))
        )
    return {
        "api_tickets_per_s": round((done - failures) / seconds, 1),
        "api_p50_ms": round(p(latencies, 0.5), 1),
        "api_p99_ms": round(p(latencies, 0.99), 1),
        "api_failures": failures,
    }


def measure_smtp(messages: int) -> dict[str, Any]:
    """bench/support_mail.py's figures (its own schema), prefixed smtp_."""
    import subprocess
    from pathlib import Path

    script = Path(__file__).with_name("support_mail.py")
    env = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith("OKPAY_") or k.startswith("OKPAY_BENCH")
    }
    out = subprocess.run(
        [sys.executable, str(script), "--messages", str(messages)],
        env=env, check=True, stdout=subprocess.PIPE, text=True,
    )  # fmt: skip
    figures = json.loads(out.stdout.strip().splitlines()[-1])
    return {
        "smtp_tickets_per_s": figures["smtp_tickets_per_s"],
        "smtp_p99_ms": figures["p99_ms"],
        "smtp_floor_per_s": figures["floor_smtp_accept_per_s"],
        "smtp_failures": figures["failures"],
    }


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--tickets", type=int, default=1_000_000)
    parser.add_argument("--created", type=int, default=300, help="tickets opened one by one")
    parser.add_argument("--rounds", type=int, default=40, help="timed runs per queue view")
    parser.add_argument(
        "--reuse", action="store_true", help="measure the tickets a previous run loaded"
    )
    parser.add_argument(
        "--api-seconds", type=float, default=5, help="how long to open tickets over HTTP"
    )
    parser.add_argument("--smtp", type=int, default=500, help="e-mails sent to the listener")
    args = parser.parse_args()
    url = _bench_url(
        SCHEMA, postgres_only="bench/support.py measures PostgreSQL: set OKPAY_BENCH_DATABASE_URL"
    )
    configure(url)
    agent_ids = existing_agents(url) if args.reuse else prepare(url, args.tickets)
    log("measuring the agent queue")
    queue = measure_queue(url, agent_ids, args.rounds)
    log(f"queue p99 {queue['queue_p99_ms']} ms (floor {queue['queue_floor_p99_ms']} ms)")
    log(f"opening {args.created} tickets through the service")
    created = measure_creation(url, args.created)
    log(f"{created['tickets_per_s']} tickets/s")
    api = measure_api(url, args.api_seconds) if args.api_seconds else {}
    log(f"API: {api.get('api_tickets_per_s')} tickets/s")
    smtp = measure_smtp(args.smtp) if args.smtp else {}
    log(f"SMTP: {smtp.get('smtp_tickets_per_s')} tickets/s")
    print(
        json.dumps(
            {
                "bench": "support",
                "db": "postgresql",
                "tickets": args.tickets,
                **created,
                **api,
                **smtp,
                **queue,
                "queue_target_ms": 50,
            }
        )
    )


if __name__ == "__main__":
    main()
