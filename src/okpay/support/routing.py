"""Routing: which team gets a new ticket, at which priority (agents' rules, then OKPay's)."""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import select
from sqlalchemy.orm import Session

from okpay.helpcenter import triage
from okpay.support.models import Channel, RoutingRule

PRIORITY_ORDER = ["low", "normal", "high", "urgent"]


@dataclass(frozen=True)
class Route:
    team: str
    priority: str
    alert: bool = False
    rule: str = "default"


# Built-in rules, applied after the ones agents add (routing_rule): first match wins.
_CATEGORY_TEAMS = {
    "suspicious_activity": Route("security", "urgent", alert=True, rule="suspicious_activity"),
    "account_security": Route("security", "high", rule="account_security"),
    "account_restricted": Route("compliance", "normal", rule="account_review"),
    "limit_increase": Route("compliance", "normal", rule="account_review"),
    "payment_methods": Route("technical", "normal", rule="technical_topic"),
}


def route(
    session: Session,
    *,
    category: str,
    channel: str,
    text: str,
    customer_state: str | None,
    suggested_priority: str,
) -> Route:
    """Team and priority for a new ticket: agents' rules first, then OKPay's defaults."""
    lowered = text.lower()
    for rule in session.scalars(
        select(RoutingRule).where(RoutingRule.active.is_(True)).order_by(RoutingRule.position)
    ):
        if rule.category and rule.category != category:
            continue
        if rule.channel and rule.channel != channel:
            continue
        if rule.customer_state and rule.customer_state != customer_state:
            continue
        if rule.keywords and not any(
            word.strip().lower() in lowered for word in rule.keywords.split("|") if word.strip()
        ):
            continue
        return Route(
            rule.team or "frontline",
            rule.priority or suggested_priority,
            alert=rule.alert_team,
            rule=f"rule:{rule.id}",
        )
    # Money leaving without consent is a security case whatever topic was picked.
    if category == "suspicious_activity" or triage.URGENT_SIGNALS.search(lowered):
        return _CATEGORY_TEAMS["suspicious_activity"]
    if customer_state == "frozen":
        return Route("security", _at_least(suggested_priority, "high"), rule="frozen_account")
    if customer_state == "restricted":
        return Route("compliance", _at_least(suggested_priority, "normal"), rule="restricted")
    if category in _CATEGORY_TEAMS:
        preset = _CATEGORY_TEAMS[category]
        return Route(preset.team, _at_least(suggested_priority, preset.priority), rule=preset.rule)
    if channel == Channel.feedback.value:
        return Route("technical", suggested_priority, rule="feedback")
    return Route("frontline", suggested_priority)


def _at_least(priority: str, floor: str) -> str:
    return max(priority, floor, key=PRIORITY_ORDER.index)
