"""bench/ledger.py's HTTP figures, driven by wrk (Debian's C load generator, with a Lua
script) so that the client is not what bounds them:

- transfers: `okpay serve` (2 workers), ``POST /api/v1/wallet/transfers`` with a bearer
  token and a distinct Idempotency-Key per request (made in Lua), from ``senders`` distinct
  signed-in customers chosen uniformly, each paying one of five regular payees spread over
  all the accounts (random strangers would soon trip the mule-pattern rule's hold);
- hot: the same, with half of the requests the provider's signed webhook completing a bank
  top-up opened before the clock started (bank-clearing system account), as ledger's hot mix;
- floor: bench/http_floor.py, a bare FastAPI app on the same server settings, one route
  doing the plain-SQL transfer (bench/floor_sql.py) between uniformly random accounts;
- healthz: OKPay's ``GET /healthz`` against the bare app's, same server settings.

Every phase runs ``rounds`` times, the phases taking turns, both servers up throughout.
"""

from __future__ import annotations

import hashlib
import json
import os
import secrets
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import ExitStack
from pathlib import Path
from typing import Any

from common import logger
from httpload import serve

HERE = Path(__file__).resolve().parent
SERVER_WORKERS = 2
log = logger("ledger")

WRK_MISSING = (
    "wrk is not installed: the HTTP figures are skipped. Install Debian's wrk "
    "(`make bench-deps` as root, or `apt-get install wrk`)."
)

# One Lua script for every phase; the phase and its data come in as wrk arguments.
LUA = r"""
local mode, dir, nonce = nil, nil, nil
local tokens, recipients, accounts, events = {}, 0, {}, {}
local next_event, counter, tid, nthreads = 1, 0, 0, 1
bad, ran_out, sample = 0, 0, ""
local threads = {}

function setup(thread)
  thread:set("id", #threads)
  table.insert(threads, thread)
end

local function lines(path)
  local out = {}
  for line in io.lines(path) do out[#out + 1] = line end
  return out
end

function init(args)
  mode, dir, nonce, nthreads = args[1], args[2], args[3], tonumber(args[4])
  tid = id  -- set by setup() for this thread
  math.randomseed(os.time() * 1000 + tid * 7919 + tonumber(nonce:sub(-6), 16))
  if mode == "transfers" or mode == "hot" then
    tokens = lines(dir .. "/tokens")
    recipients = tonumber(lines(dir .. "/users")[1])
  end
  if mode == "hot" then
    local all = lines(dir .. "/events")
    for i = 1, #all do
      if (i - 1) % nthreads == tid then events[#events + 1] = all[i] end
    end
  end
  if mode == "floor" then
    accounts = lines(dir .. "/accounts")
  end
end

local json = {["Content-Type"] = "application/json"}

local function transfer()
  local sender = math.random(#tokens)
  -- One of the sender's five regular payees, spread over all the accounts: paying random
  -- strangers, each sender passes ten new recipients an hour within a few rounds, the
  -- shipped mule-pattern rule holds the transfer, and the figure becomes the hold path's.
  local recipient = (sender - 1 + math.random(5) * 397) % recipients
  if recipient == sender - 1 then recipient = (recipient + 1) % recipients end
  local amount = math.random(500)
  counter = counter + 1
  local body = string.format(
    '{"recipient":"b%d@bench.example","amount":"%d.%02d","currency":"CNY"}',
    recipient, math.floor(amount / 100), amount % 100)
  return wrk.format("POST", "/api/v1/wallet/transfers", {
    ["Content-Type"] = "application/json",
    ["Authorization"] = "Bearer " .. tokens[sender],
    ["Idempotency-Key"] = string.format("%s-%d-%d-%d", nonce, tid, counter, math.random(1e9)),
  }, body)
end

function request()
  if mode == "healthz" then
    return wrk.format("GET", "/healthz")
  elseif mode == "floor" then
    local a = math.random(#accounts)
    local b = math.random(#accounts - 1)
    if b >= a then b = b + 1 end
    return wrk.format("POST", "/transfer", json,
      string.format('{"a":%s,"b":%s}', accounts[a], accounts[b]))
  elseif mode == "hot" and math.random() < 0.5 then
    if next_event <= #events then
      local line = events[next_event]
      next_event = next_event + 1
      local tab = line:find("\t", 1, true)
      return wrk.format("POST", "/api/v1/webhooks/sandbox", {
        ["Content-Type"] = "application/json",
        ["OKPay-Signature"] = line:sub(1, tab - 1),
      }, line:sub(tab + 1))
    end
    ran_out = ran_out + 1
  end
  return transfer()
end

function response(status, headers, body)
  if status ~= 200 and status ~= 201 and status ~= 202 then
    bad = bad + 1
  elseif mode == "hot" and status == 200 and body:find("exception", 1, true) then
    bad = bad + 1  -- a webhook the ledger did not match
  else
    return
  end
  if sample == "" then sample = status .. " " .. body:sub(1, 300):gsub("%s", " ") end
end

function done(summary, latency, requests)
  local b, r = 0, 0
  for _, t in ipairs(threads) do
    b = b + t:get("bad")
    r = r + t:get("ran_out")
    if t:get("sample") ~= "" then io.write("WRKBAD " .. t:get("sample") .. "\n") end
  end
  local e = summary.errors
  io.write(string.format(
    'WRK {"requests":%d,"duration_us":%d,"p50_us":%d,"p99_us":%d,"bad_status":%d,' ..
    '"socket_errors":%d,"timeouts":%d,"events_ran_out":%d}\n',
    summary.requests, summary.duration, latency:percentile(50), latency:percentile(99),
    b, e.connect + e.read + e.write, e.timeout, r))
end
"""


def wrk_path() -> str | None:
    return shutil.which("wrk")


def run_wrk(
    base: str, mode: str, data: Path, seconds: float, connections: int, script: Path
) -> dict[str, Any]:
    """One wrk phase: its figures (requests/s, p50/p99 ms, errors)."""
    threads = 2
    nonce = secrets.token_hex(6)
    command = [
        "wrk",
        f"-t{threads}",
        f"-c{connections}",
        f"-d{max(1, round(seconds))}s",
        "--timeout",
        "10s",
        "-s",
        str(script),
        base,
        "--",
        mode,
        str(data),
        nonce,
        str(threads),
    ]
    out = subprocess.run(command, capture_output=True, text=True, check=False)
    line = next((x for x in out.stdout.splitlines() if x.startswith("WRK ")), None)
    if out.returncode or line is None:
        raise RuntimeError(f"wrk failed ({out.returncode}): {out.stderr or out.stdout}")
    raw = json.loads(line[4:])
    for bad in (x for x in out.stdout.splitlines() if x.startswith("WRKBAD ")):
        log(f"{mode}: an answer counted as an error: {bad[7:]}")
    per_s = raw["requests"] / (raw["duration_us"] / 1e6)
    return {
        "per_s": per_s,
        "requests": raw["requests"],
        "p50_ms": raw["p50_us"] / 1000,
        "p99_ms": raw["p99_us"] / 1000,
        "errors": raw["bad_status"] + raw["socket_errors"] + raw["timeouts"],
        "events_ran_out": raw["events_ran_out"],
    }


def api_tokens(url: str, user_ids: list[int], senders: int) -> list[str]:
    """Bearer tokens of the first ``senders`` customers: API sessions written straight to
    the database (signing in 500 customers over HTTP would take longer than the run)."""
    from sqlalchemy import insert

    from okpay.core import clock
    from okpay.core.security import hash_token, new_token
    from okpay.db import get_database
    from okpay.identity.models import UserSession

    now = clock.now()
    from datetime import timedelta

    tokens = [new_token(32) for _ in user_ids[:senders]]
    with get_database(url).unit_of_work() as s:
        s.execute(
            insert(UserSession),
            [
                {
                    "user_id": uid,
                    "token_hash": hash_token(token),
                    "kind": "api",
                    "created_at": now,
                    "last_seen_at": now,
                    "expires_at": now + timedelta(days=1),
                    "user_agent": "wrk",
                }
                for uid, token in zip(user_ids, tokens, strict=False)
            ],
        )
    return tokens


def signed_completions(url: str, user_ids: list[int], count: int) -> list[str]:
    """``count`` bank top-ups opened now, and for each the provider's signed
    ``bank_transfer.received`` event as one line: signature, tab, body."""
    import random

    from okpay.db import get_database
    from okpay.settings import configure
    from okpay.wallet import topups
    from okpay.wallet.models import Operation
    from okpay.wallet.providers import get_provider

    configure(None)  # OKPAY_SECRET_KEY as the server has it
    rng = random.Random()
    db = get_database(url)
    opened: list[tuple[str, int]] = []
    while len(opened) < count:
        with db.unit_of_work() as s:
            for _ in range(min(200, count - len(opened))):
                amount = rng.randint(1, 500)
                op = topups.do_begin_bank_topup(
                    s, user_id=rng.choice(user_ids), amount=amount, currency="CNY"
                )
                ref = s.get(Operation, op.id).reference  # type: ignore[union-attr]
                opened.append((ref, amount))
    now = int(time.time())
    lines = []
    for ref, amount in opened:
        body = json.dumps(
            {
                "id": "evt_" + hashlib.sha1(ref.encode()).hexdigest()[:20],
                "type": "bank_transfer.received",
                "data": {
                    "reference": ref,
                    "amount": amount,
                    "currency": "CNY",
                    "transfer": "bt_" + ref,
                },
            },
            separators=(",", ":"),
        )
        lines.append(f"{get_provider().sign(body.encode(), now)}\t{body}")
    return lines


def http_figures(
    url: str,
    data_dir: str,
    seconds: float,
    rounds: int,
    connections: int,
    user_ids: list[int],
    account_ids: list[int],
    op_id: int,
    senders: int = 500,
) -> dict[str, Any]:
    """The HTTP phases, ``rounds`` times in turn; the figures for ledger's JSON line."""
    if wrk_path() is None:
        log(WRK_MISSING)
        return {"http_error": WRK_MISSING}
    os.environ["OKPAY_SECRET_KEY"] = "bench-secret"  # as httpload.serve gives the server
    from okpay.helpcenter import triage
    from okpay.settings import configure

    configure(None)
    triage.current_model()  # trained and stored in the data directory the servers load from
    data = Path(tempfile.mkdtemp(prefix="okpay-wrk-"))
    script = data / "ledger.lua"
    script.write_text(LUA)
    senders = min(senders, len(user_ids) - 1)
    (data / "tokens").write_text("\n".join(api_tokens(url, user_ids, senders)) + "\n")
    (data / "users").write_text(f"{len(user_ids)}\n")
    (data / "accounts").write_text("\n".join(map(str, account_ids)) + "\n")
    # Not "test": like a production server, each worker loads the help-desk triage model
    # at start (a transfer held for review opens a case, whose ticket is triaged), instead
    # of in the middle of the run.
    server_env = {"OKPAY_ENV": "dev"}
    floor_env = {**server_env, "OKPAY_BENCH_FLOOR_URL": url, "OKPAY_BENCH_FLOOR_OP": str(op_id)}
    floor_command = [sys.executable, str(HERE / "http_floor.py")]
    phases: dict[str, list[dict[str, Any]]] = {}
    with ExitStack() as stack:
        okpay = stack.enter_context(serve(url, Path(data_dir), SERVER_WORKERS, (), server_env))
        bare = stack.enter_context(
            serve(url, Path(data_dir), SERVER_WORKERS, floor_command, floor_env)
        )
        log("http: warming both servers up")
        for base, mode, warm in (
            (okpay, "transfers", 4),
            (bare, "floor", 1),
            (okpay, "healthz", 1),
        ):
            run_wrk(base, mode, data, warm, connections, script)
        for round_ in range(1, rounds + 1):
            for name, base, mode in _phases(okpay, bare):
                if mode == "hot":
                    uniform = phases["transfers"][-1]["per_s"]
                    wanted = int(uniform * seconds * 0.5 * 2) + 100  # twice what it may take
                    log(f"http round {round_}/{rounds}: opening {wanted} bank top-ups")
                    lines = signed_completions(url, user_ids, wanted)
                    (data / "events").write_text("\n".join(lines) + "\n")
                log(f"http round {round_}/{rounds}: {name}, wrk {connections} connections")
                phases.setdefault(name, []).append(
                    run_wrk(base, mode, data, seconds, connections, script)
                )
    return _summary(phases, connections, senders)


def _phases(okpay: str, bare: str) -> Iterator[tuple[str, str, str]]:
    yield "floor", bare, "floor"
    yield "transfers", okpay, "transfers"
    yield "hot", okpay, "hot"
    yield "healthz", okpay, "healthz"
    yield "healthz_bare", bare, "healthz"


def _summary(
    phases: dict[str, list[dict[str, Any]]], connections: int, senders: int
) -> dict[str, Any]:
    def rate(name: str) -> float:
        runs = phases[name]
        return sum(r["requests"] for r in runs) / sum(r["requests"] / r["per_s"] for r in runs)

    def worst(name: str, key: str) -> float:
        return round(max(r[key] for r in phases[name]), 1)

    def errors(name: str) -> int:
        return sum(r["errors"] for r in phases[name])

    def ratio(a: float, b: float) -> float | None:
        return round(a / b, 3) if b else None

    out: dict[str, Any] = {
        "http_client": "wrk",
        "http_server_workers": SERVER_WORKERS,
        "http_connections": connections,
        "http_senders": senders,
        "http_rounds": len(phases["floor"]),
    }
    for name, key in (
        ("transfers", "http_transfers"),
        ("hot", "http_hot"),
        ("floor", "http_floor"),
        ("healthz", "healthz"),
        ("healthz_bare", "healthz_bare"),
    ):
        out[f"{key}_per_s"] = round(rate(name), 1)
        out[f"{key}_p50_ms"] = worst(name, "p50_ms")
        out[f"{key}_p99_ms"] = worst(name, "p99_ms")
        out[f"{key}_errors"] = errors(name)
    out["http_hot_events_ran_out"] = sum(r["events_ran_out"] for r in phases["hot"])
    out["http_ratio_to_floor"] = ratio(out["http_transfers_per_s"], out["http_floor_per_s"])
    out["http_hot_ratio_to_uniform"] = ratio(out["http_hot_per_s"], out["http_transfers_per_s"])
    out["healthz_ratio_to_bare"] = ratio(out["healthz_per_s"], out["healthz_bare_per_s"])
    return out
