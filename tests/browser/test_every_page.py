"""Every main page, as customers and staff see it, at a desktop (1280x800) and a phone
(390x844) size, in Chinese and in English (issue 15's "done when"). On each page and size:

- nothing makes the page scroll sideways;
- no table header, button, nav link or label is squeezed to one character per line;
- no raw code (``pending_customer``, ``on_hold``; on a Chinese page also a bare status word
  such as ``restricted`` or ``failed``) and no ISO timestamp in the visible text;
- axe-core (from npm, served from our vendor folder) finds no serious or critical violation.

The data is made once per language: a customer with balances and history (a failed top-up,
a cancelled withdrawal among them), a request, a case with a proposal waiting for approval,
a live chat, a merchant's checkout, staff of each role. Each page is opened once per
language; the viewport is resized in place (the layout follows at once). Every failure of the
whole walk is collected and reported together, so one run shows them all.

Set OKPAY_SHOTS to a folder to keep a full-page screenshot of each page, size and language."""

from __future__ import annotations

import os
import re
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path
from typing import Any
from urllib.parse import unquote

import pytest
from playwright.sync_api import Browser, BrowserContext, Page
from sqlalchemy import select

from okpay.core import clock
from okpay.helpcenter import service as help_service
from okpay.identity import operators, sessions
from okpay.identity import validation as identity_validation
from okpay.identity.models import Role, User
from okpay.mail.models import OutboundEmail
from okpay.support import access, agents, callbacks, chat, messages
from okpay.wallet import flows, intents, merchants, references, standing
from okpay.wallet.models import Operation, ReconciliationException
from okpay.web.middleware import SESSION_COOKIE
from tests.browser.test_community import forum_thread
from tests.browser.test_wallet_reconciliation import _event, _withdrawal
from tests.community.moderation_helpers import seed_moderation_queue
from tests.conftest import unavailable
from tests.helpcenter.hotline_helpers import add_demo_set
from tests.helpers import PASSWORD, api_token
from tests.risk.helpers import install_defaults, op, rule_id
from tests.wallet.helpers import fund

AXE = Path(__file__).resolve().parents[2] / "src/okpay/web/static/vendor/axe/axe.min.js"
AXE_URL = "/static/vendor/axe/axe.min.js"
SIZES = [(1280, 800), (390, 844)]
SHOTS = os.environ.get("OKPAY_SHOTS", "")
# While fixing pages: OKPAY_EVERY_PAGE=regex walks only the listed paths it matches.
ONLY = re.compile(os.environ.get("OKPAY_EVERY_PAGE", ""))

CUSTOMER = "mei@example.com"


# ------------------------------------------------------------------------------ the pages

# (path, who is signed in). A path may name values of the world made below in braces.
PAGES: list[tuple[str, str]] = [
    # Public
    ("/", "guest"),
    ("/login", "guest"),
    ("/register", "guest"),
    ("/password/forgot", "guest"),
    ("/password/reset/sms", "guest"),  # after asking for a code by phone (see _before)
    ("/verify-email/resend", "guest"),
    ("/help", "guest"),
    ("/help?q={search}", "guest"),
    ("/help?q={nothing}", "guest"),  # no relevant article: the empty state and the hotline
    ("/help/articles/{article}", "guest"),
    ("/help/contact", "guest"),
    ("/help/articles/contact-support", "guest"),
    ("/help/callback?region=HK", "guest"),
    ("/support/requests/find", "guest"),
    ("/support/chat", "guest"),
    ("/support/cases/new/unlock", "guest"),
    ("/fees", "guest"),
    ("/pay/i/{intent}", "guest"),
    ("/dev/mail", "guest"),
    ("/dev/sandbox/wechat", "guest"),
    ("/dev/mail/{email}", "guest"),
    ("/community", "guest"),
    ("/community/c/topup-withdrawal", "guest"),
    ("/community/t/{thread}", "guest"),
    # The customer
    ("/wallet", "customer"),
    ("/wallet/topup", "customer"),
    ("/wallet/send", "customer"),
    ("/wallet/withdraw", "customer"),
    ("/wallet/history", "customer"),
    ("/wallet/statement", "customer"),
    ("/wallet/tx/{tx_transfer}", "customer"),
    ("/wallet/tx/{tx_failed}", "customer"),
    ("/wallet/tx/{tx_cancelled}", "customer"),
    ("/wallet/tx/{tx_pending}", "customer"),
    ("/wallet/limits", "customer"),
    ("/wallet/methods", "customer"),
    ("/pay/i/{intent}", "customer"),
    ("/account", "customer"),
    ("/account/security", "customer"),
    ("/account/email", "customer"),
    ("/account/phone", "customer"),
    ("/account/emergency-freeze", "customer"),
    ("/account/wechat", "customer"),
    ("/support/requests", "customer"),
    ("/support/requests/{ticket}", "customer"),
    ("/support/requests/{ticket}/sent", "customer"),
    ("/support/requests/{ticket}/rate", "customer"),
    ("/support/chat/{chat}", "customer"),
    ("/support/feedback", "customer"),
    ("/help/callback", "customer"),
    ("/support/cases/new/verification", "customer"),
    ("/support/cases/new/limit_increase", "customer"),
    ("/support/cases/new/dispute?reference={tx_transfer}", "customer"),
    ("/support/cases/new/unlock", "customer"),
    ("/support/cases/{case}", "customer"),
    ("/community/new", "customer"),
    ("/community/t/{thread}", "customer"),
    # Staff
    ("/agent", "agent"),
    ("/agent/tickets/{ticket}", "agent"),
    ("/agent/tickets/{unsure_ticket}", "agent"),
    ("/agent/tickets/{case_ticket}", "agent"),
    ("/agent/chats", "agent"),
    ("/agent/chats/{chat}", "agent"),
    ("/agent/phone", "agent"),
    ("/agent/hotlines", "supervisor"),
    ("/agent/cases", "supervisor"),
    ("/agent/approvals", "supervisor"),
    ("/agent/reports", "supervisor"),
    ("/agent/community", "agent"),
    ("/agent/community?tab=held", "agent"),
    ("/agent/community?tab=bans", "agent"),
    ("/community/moved/{moved_thread}", "guest"),
    ("/agent/reconciliation", "supervisor"),
    ("/agent/reconciliation/{exception}", "supervisor"),
    ("/agent/case-policy", "admin"),
    ("/agent/risk/rules", "admin"),
    ("/agent/risk/rules/{rule}", "admin"),
    ("/agent/risk/rules/{rule}/edit", "admin"),
    ("/agent/risk/rules/new", "admin"),
    ("/help/articles/{article}/edit", "admin"),
    ("/help/articles/{article}/history", "admin"),
    ("/help/articles/{article}/history/1", "admin"),
]

# Failures on pages other helpers of issue 15 are rewriting at the same time (the site
# layout, the wallet pages, the staff console). Each entry names the page, the check and a
# piece of the failure's text; an entry that no longer matches anything fails the test, so
# the list only shrinks. The lead empties it once those branches are merged.
# (path template, check, substring of the detail, language or "" for both)
KNOWN: list[tuple[str, str, str, str]] = []


# ------------------------------------------------------------------------------ the checks

CHECKS_JS = r"""
() => {
  const W = window.innerWidth;
  const visible = (el) => el.checkVisibility ? el.checkVisibility({visibilityProperty: true})
    : !!(el.offsetWidth || el.offsetHeight || el.getClientRects().length);
  const describe = (el) => {
    let s = el.tagName.toLowerCase();
    if (el.id) s += '#' + el.id;
    const tid = el.getAttribute('data-testid');
    if (tid) s += '[data-testid=' + tid + ']';
    else if (el.classList.length) s += '.' + [...el.classList].slice(0, 3).join('.');
    return s;
  };
  // Inside a box kept for screen readers only (a table head clipped to 1px on a phone).
  const clipped = (el) => {
    for (let a = el.parentElement; a && a !== document.body; a = a.parentElement) {
      const r = a.getBoundingClientRect();
      if ((r.width < 4 || r.height < 4) && getComputedStyle(a).overflow !== 'visible') return true;
    }
    return false;
  };
  const out = {overflow: null, squeezed: [], text: '', chrome: []};

  // (a) sideways scrolling, and the elements that stick out (not those inside one that does)
  const wide = document.documentElement.scrollWidth - W;
  if (wide > 0) {
    const culprits = [];
    for (const el of document.querySelectorAll('body *')) {
      const r = el.getBoundingClientRect();
      const p = el.parentElement ? el.parentElement.getBoundingClientRect() : {right: 0};
      if (r.width && r.right > W + 1 && p.right <= W + 1) {
        culprits.push(describe(el) + ' right=' + Math.round(r.right));
      }
      if (culprits.length >= 6) break;
    }
    out.overflow = wide + 'px wider than the window: ' + culprits.join(' | ');
  }

  // (b) one character per line: the lines its characters sit on, one character each
  const sel = 'th, button, [role=button], nav a, label, a.button, summary, .tabs a';
  for (const el of document.querySelectorAll(sel)) {
    if (!visible(el) || el.closest('.visually-hidden, .sr-only') || clipped(el)) continue;
    const box = el.getBoundingClientRect();
    if (box.width < 4 || box.height < 4) continue;  // hidden for screen readers only
    const em = parseFloat(getComputedStyle(el).fontSize) || 16;
    if (box.height < em * 2) continue;  // one line: nothing to measure
    const chars = (el.textContent || '').replace(/\s+/g, '');
    if (chars.length < 2 || chars.length > 60) continue;
    const tops = new Set();
    let count = 0;
    const walker = document.createTreeWalker(el, NodeFilter.SHOW_TEXT);
    for (let n = walker.nextNode(); n; n = walker.nextNode()) {
      const t = n.textContent;
      for (let i = 0; i < t.length; i++) {
        if (/\s/.test(t[i])) continue;
        const range = document.createRange();
        range.setStart(n, i);
        range.setEnd(n, i + 1);
        const rect = range.getBoundingClientRect();
        if (!rect.width && !rect.height) continue;
        tops.add(Math.round(rect.top / 4));
        count++;
      }
    }
    if (count >= 2 && tops.size >= count) {
      out.squeezed.push(describe(el) + ' "' + chars.slice(0, 30) + '" on ' + tops.size + ' lines');
    }
  }

  // (c) the words of the page's own controls and headings of tables (never what people typed)
  // (a label's own words: not the choices of a select in it, its hints or code samples)
  for (const el of document.querySelectorAll('th, button, label, nav a, legend, summary')) {
    if (!visible(el) || el.closest('.visually-hidden, .sr-only, [data-raw-ok]')) continue;
    const own = el.cloneNode(true);
    own.querySelectorAll('select, option, input, textarea, small, code, .muted, [data-raw-ok]')
      .forEach((child) => child.remove());
    const words = own.textContent.replace(/\s+/g, ' ').trim();
    if (words) out.chrome.push(describe(el) + '\t' + words.slice(0, 80));
  }

  // (c) the visible text, without code samples and what people typed
  const parts = [];
  const walker = document.createTreeWalker(document.body, NodeFilter.SHOW_TEXT);
  for (let n = walker.nextNode(); n; n = walker.nextNode()) {
    const p = n.parentElement;
    if (!p || p.closest('code, pre, script, style, textarea, template, [data-raw-ok]')) continue;
    if (!n.textContent.trim() || !visible(p)) continue;
    parts.push(n.textContent);
  }
  out.text = parts.join(' ');
  return out;
}
"""

AXE_JS = """
async () => {
  const result = await axe.run(document, {resultTypes: ['violations']});
  return result.violations
    .filter(v => v.impact === 'serious' || v.impact === 'critical')
    .map(v => ({id: v.id, impact: v.impact, help: v.help,
      nodes: v.nodes.slice(0, 4).map(n => ({target: n.target.join(' '),
        html: n.html.slice(0, 160),
        why: (n.failureSummary || '').split('\\n').slice(1, 2).join('')}))}));
}
"""

ISO = re.compile(r"\d{4}-\d{2}-\d{2}T\d{2}:\d{2}")
# A snake_case token is a code, never a word of either language (mail addresses excluded).
SNAKE = re.compile(r"(?<![\w@.\-/])[a-z][a-z0-9]*(?:_[a-z0-9]+)+(?![\w@\-/]|\.\w)")
# On a Chinese page an English status word standing alone is a code that was not translated.
STATUS_WORDS = re.compile(
    r"\b(?:restricted|frozen|failed|cancelled|canceled|pending|completed|declined|active|"
    r"submitted|resolved|waiting|closed|expired|reversed|held|approved|rejected|draft|shadow)\b"
)


# On a Chinese page the page's own controls have no English word (a word with a lower-case
# letter: upper-case codes such as CNY, PDF or SMS are fine); the product's name is.
ENGLISH_WORD = re.compile(r"\b(?=[A-Za-z]*[a-z])[A-Za-z]{3,}\b")
NAMES = {"OKPay", "English", "Markdown", "WebP"}  # names, the same in both languages


@dataclass
class Failure:
    path: str  # the page as listed (template)
    url: str
    lang: str
    size: str
    check: str
    detail: str

    def __str__(self) -> str:
        detail = " ".join(self.detail.split())
        return f"{self.url} [{self.lang} {self.size}] {self.check}: {detail}"


def _text_failures(text: str, lang: str) -> list[tuple[str, str]]:
    found: list[tuple[str, str]] = []
    for m in ISO.finditer(text):
        found.append(("iso-timestamp", text[max(0, m.start() - 30) : m.end() + 20]))
    codes = [*SNAKE.finditer(text), *(STATUS_WORDS.finditer(text) if lang == "zh-CN" else [])]
    for m in codes:
        around = text[max(0, m.start() - 40) : m.end() + 40]
        found.append(("raw-code", f"{m.group(0)!r} in …{around}…"))
    # one line per distinct finding
    return list(dict.fromkeys(found))


def _audit(page: Page, template: str, who: str, url: str, lang: str) -> list[Failure]:
    failures: list[Failure] = []
    response = page.goto(url)
    status = response.status if response is not None else 0
    landed = "/" + unquote(page.url.split("://", 1)[-1].split("/", 1)[-1]).split("#")[0]
    if status >= 400 or landed != url:
        failures.append(Failure(template, url, lang, "-", "load", f"HTTP {status}, at {landed}"))
        if status >= 400:
            return failures
    page.add_script_tag(url=AXE_URL)
    for w, h in SIZES:
        size = f"{w}x{h}"
        page.set_viewport_size({"width": w, "height": h})
        result: dict[str, Any] = page.evaluate(CHECKS_JS)
        if result["overflow"]:
            failures.append(Failure(template, url, lang, size, "overflow", result["overflow"]))
        for item in result["squeezed"]:
            failures.append(Failure(template, url, lang, size, "one-char-per-line", item))
        if lang == "zh-CN":
            for item in result["chrome"]:
                where, words = item.split("\t", 1)
                english = [w for w in ENGLISH_WORD.findall(words) if w not in NAMES]
                if english:
                    failures.append(
                        Failure(template, url, lang, size, "english", f"{where} {words!r}")
                    )
        for check, detail in _text_failures(result["text"], lang):
            failures.append(Failure(template, url, lang, size, check, detail))
        for v in page.evaluate(AXE_JS):
            nodes = "; ".join(f"{n['target']} {n['html']!r} {n['why']}".strip() for n in v["nodes"])
            check = f"axe {v['impact']} {v['id']}"
            failures.append(Failure(template, url, lang, size, check, f"{v['help']}: {nodes}"))
        if SHOTS:
            Path(SHOTS).mkdir(parents=True, exist_ok=True)
            name = re.sub(r"[^\w]+", "-", template.strip("/")).strip("-") or "home"
            page.screenshot(
                path=str(Path(SHOTS) / f"every-{name}-{who}-{lang}-{w}.png"), full_page=True
            )
    return failures


# ------------------------------------------------------------------------------ the world


def _user(  # type: ignore[no-untyped-def]
    db, email: str, role: Role, locale: str, *, phone: str | None = None, team: str = ""
) -> int:
    with db.unit_of_work() as s:
        user = operators.do_create_user(
            s, email=email, password=PASSWORD, role=role,
            name=email.split("@")[0].title(), locale=locale,
        )  # fmt: skip
        user.verification_level = 1
        if phone:
            user.phone = identity_validation.normalise_phone(phone)
        if team:
            agents.set_agent_team(s, user=user, team=team)
        return int(user.id)


def _make_world(db, client, live_server: str, locale: str) -> dict[str, Any]:  # type: ignore[no-untyped-def]
    """Everything the pages show, made through the services (fast, no typing)."""
    world: dict[str, Any] = {}
    with db.unit_of_work() as s:
        help_service.do_sync(s)
    install_defaults(db)
    uid = _user(db, CUSTOMER, Role.customer, locale, phone="+8613812345678")
    _user(db, "friend@example.com", Role.customer, locale)
    ids = {
        "agent": _user(db, "agent@okpay.example", Role.agent, locale, team="compliance"),
        "supervisor": _user(db, "sup@okpay.example", Role.supervisor, locale, team="compliance"),
        "admin": _user(db, "root@okpay.example", Role.admin, locale, team="compliance"),
        "customer": uid,
    }
    world["ids"] = ids
    fund(db, uid, 2_000_00)
    fund(db, uid, 150_00, "USD")
    me = api_token(client, CUSTOMER)

    # History: a transfer, a failed card top-up, a cancelled and a pending withdrawal.
    sent = client.post(
        "/api/v1/wallet/transfers",
        headers={**me, "Idempotency-Key": uuid.uuid4().hex},
        json={"amount": "35.50", "currency": "CNY", "recipient": "friend@example.com",
              "note": "Dinner"},
    )  # fmt: skip
    assert sent.status_code in (200, 201), sent.text
    world["tx_transfer"] = sent.json()["reference"]
    with db.unit_of_work() as s:
        failed_id = op(
            s, uid, "topup", 88_00, at=clock.now() - timedelta(hours=2), status="failed",
            method="card", failure="declined",
        )  # fmt: skip
        failed = s.get(Operation, failed_id)
        assert failed is not None
        failed.reference = references.new_reference(s)  # the shape a real one has
        world["tx_failed"] = failed.reference
    cancelled, _payout = _withdrawal(db, uid, 120_00)
    flows.cancel_withdrawal(user_id=uid, reference=cancelled)
    world["tx_cancelled"] = cancelled
    world["tx_pending"], _ = _withdrawal(db, uid, 60_00)
    # A payout the provider paid after it was cancelled: a reconciliation exception.
    late_ref, late_payout = _withdrawal(db, uid, 10_00)
    flows.cancel_withdrawal(user_id=uid, reference=late_ref)
    flows.handle_provider_event(_event("payout.paid", late_payout, amount=10_00, currency="CNY"))

    # A request with an answer, and a case (an appeal of a restriction) with a proposal.
    opened = client.post(
        "/api/v1/support/tickets",
        headers=me,
        json={"subject": "Top-up not arrived", "body": "My bank top-up of 100 has not arrived.",
              "references": [world["tx_failed"]]},
    )  # fmt: skip
    assert opened.status_code == 201, opened.text
    world["ticket"] = opened.json()["number"]
    # A vague request: triage is unsure, the agent's page offers the two best categories.
    vague = client.post(
        "/api/v1/support/tickets",
        headers=me,
        json={"subject": "账户出问题了", "body": "账户出问题了，请帮忙看看"},
    )
    assert vague.status_code == 201, vague.text
    world["unsure_ticket"] = vague.json()["number"]
    with db.unit_of_work() as s:
        agent = s.get(User, ids["agent"])
        ticket = access.get_ticket(s, world["ticket"])
        assert agent is not None and ticket is not None
        messages.do_agent_reply(
            s, ticket=ticket, agent=agent, body="We are checking it with the bank."
        )
        standing.do_restrict(
            s, user_id=uid, blocked=["withdraw"], reason="Unusual activity under review",
            actor_user_id=None,
        )  # fmt: skip
    made = client.post(
        "/api/v1/support/cases",
        headers=me,
        json={"type": "appeal", "statement": "These were payments to my family for rent."},
    )
    assert made.status_code == 201, made.text
    world["case"], world["case_ticket"] = made.json()["id"], made.json()["number"]
    proposed = client.post(
        f"/api/v1/agent/cases/{world['case']}/proposals",
        headers=api_token(client, "agent@okpay.example"),
        json={"action": "lift_restriction", "params": {}, "reason": "Rent to family, checked"},
    )
    assert proposed.status_code in (200, 201), proposed.text

    # A live chat the agent has accepted.
    with db.unit_of_work() as s:
        customer = s.get(User, uid)
        view = chat.do_start_chat(s, question="Why is my withdrawal limited?", user=customer)
        world["chat"] = view.chat.id
    with db.unit_of_work() as s:
        chat.do_accept(s, chat_id=world["chat"], agent=s.get(User, ids["agent"]))
        chat.do_say(s, chat_id=world["chat"], side="customer", user=s.get(User, uid),
                    body="Hello, is anyone there?")  # fmt: skip
        chat.do_say(s, chat_id=world["chat"], side="agent", user=s.get(User, ids["agent"]),
                    body="Yes, let me look at your account.")  # fmt: skip

    # A merchant's checkout.
    with db.unit_of_work() as s:
        shop = merchants.do_create_merchant(
            s, code="demo-coffee", name="Demo Coffee 演示咖啡店", owner_user_id=None
        )
        world["intent"] = intents.do_create_intent(
            s, merchant=shop, api_key_id=None, order_id="A-1001", amount=32_00, currency="CNY",
            return_url=f"{live_server}/wallet", description="Latte 拿铁",
        ).token  # fmt: skip

    # Hotlines by region, and a callback waiting for an agent on /agent/phone.
    add_demo_set(db)
    with db.unit_of_work() as s:
        callbacks.do_request_callback(
            s, user=None, request=callbacks.CallbackRequest(
                region="HK", number="6123 4567", name="Chan Tai Man", email="chan@example.com"
            ),
        )  # fmt: skip

    world.update(seed_moderation_queue(db, customer=uid, agent=ids["agent"]))
    world["rule"] = rule_id(db, "card_testing")
    with db.unit_of_work(write=False) as s:
        world["email"] = s.scalar(select(OutboundEmail.id).order_by(OutboundEmail.id.desc()))
        world["exception"] = s.scalar(select(ReconciliationException.id))
    world["thread"] = forum_thread(db, uid, ids["agent"])
    world["article"] = "reset-password"
    world["search"] = "密码" if locale == "zh_CN" else "password"
    world["nothing"] = "今天天气怎么样" if locale == "zh_CN" else "how to cook rice"
    return world


def _before(page: Page, template: str) -> None:
    """What a visitor does before a page that only follows a form: asking for a reset code
    by phone leads to the page to enter it."""
    if template == "/password/reset/sms":
        page.goto("/password/forgot")
        page.fill("#f-account", "138 1234 5678")
        page.click("form[action='/password/forgot'] button[type=submit]")
        page.wait_for_url("**/password/reset/sms")


def _signed_in(  # type: ignore[no-untyped-def]
    browser: Browser, live_server: str, db, user_id: int | None, locale: str
) -> BrowserContext:
    """A browser profile, signed in as ``user_id`` without typing (a session made directly)."""
    context = browser.new_context(
        locale="zh-CN" if locale == "zh_CN" else "en-US", base_url=live_server
    )
    context.set_default_timeout(15_000)
    if user_id is not None:
        with db.unit_of_work() as s:
            user = s.get(User, user_id)
            assert user is not None
            token = sessions.start_session(s, user=user, kind="web", device_token=None).token
        context.add_cookies([{"name": SESSION_COOKIE, "value": token, "url": live_server}])
    return context


def _known(failure: Failure) -> tuple[str, str, str, str] | None:
    for entry in KNOWN:
        path, check, piece, lang = entry
        if (
            path == failure.path
            and failure.check.startswith(check)
            and piece in failure.detail
            and lang in ("", failure.lang)
        ):
            return entry
    return None


@pytest.fixture
def axe_available() -> Iterator[None]:
    if not AXE.exists():
        unavailable(f"axe-core is not in {AXE} (make install copies it from npm)")
    yield


@pytest.mark.parametrize("locale", ["zh_CN", "en"])
def test_every_page_fits_reads_and_passes_axe(  # type: ignore[no-untyped-def]
    locale: str, browser, live_server: str, db, client, axe_available
) -> None:
    lang = "zh-CN" if locale == "zh_CN" else "en"
    world = _make_world(db, client, live_server, locale)
    failures: list[Failure] = []
    contexts: dict[str, BrowserContext] = {}
    try:
        for template, who in PAGES:
            if not ONLY.search(template):
                continue
            if who not in contexts:
                uid = None if who == "guest" else world["ids"][who]
                contexts[who] = _signed_in(browser, live_server, db, uid, locale)
                contexts[who].new_page()
            page = contexts[who].pages[0]
            url = template.format(**world)
            _before(page, template)
            failures += _audit(page, template, who, url, lang)
    finally:
        for context in contexts.values():
            context.close()

    used: set[tuple[str, str, str, str]] = set()
    unknown = []
    for failure in failures:
        entry = _known(failure)
        if entry is None:
            unknown.append(failure)
        else:
            used.add(entry)
    stale = [e for e in KNOWN if e not in used and e[3] in ("", lang) and ONLY.search(e[0])]
    report = "\n".join(str(f) for f in unknown)
    report += "".join(f"\nKNOWN entry no longer seen (remove it): {e}" for e in stale)
    assert not unknown and not stale, f"{len(unknown)} problems on the pages:\n{report}"
