"""Hotline tables: one telephone line per region, with its opening hours in the region's time
zone and its holidays. The help centre owns them so that articles (here) and the contact page
and callback requests (support) read the same configuration."""

from __future__ import annotations

from datetime import date, datetime

from sqlalchemy import JSON, Date, ForeignKey, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column, relationship

from okpay.db import Base, UTCDateTime


class Hotline(Base):
    """A customer-service telephone line for one region."""

    __tablename__ = "help_hotline"

    id: Mapped[int] = mapped_column(primary_key=True)
    # A CLDR territory code: CN, HK, MO, TW, SG, US, EU…
    region: Mapped[str] = mapped_column(String(4), unique=True)
    # E.164, checked with phonenumbers: "+864001234567".
    number: Mapped[str] = mapped_column(String(20))
    # An IANA zone: the opening hours are wall-clock times there.
    timezone: Mapped[str] = mapped_column(String(64))
    # Language tags spoken on the line, best first: ["zh-HK", "yue", "en"].
    languages: Mapped[list[str]] = mapped_column(JSON, default=list)
    # Opening hours by weekday (Monday = "0"): {"0": ["09:00", "18:00"], ...}; a missing
    # weekday is closed all day.
    hours: Mapped[dict[str, list[str]]] = mapped_column(JSON, default=dict)
    position: Mapped[int] = mapped_column(default=0)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime)

    holidays: Mapped[list[HotlineHoliday]] = relationship(
        back_populates="hotline",
        cascade="all, delete-orphan",
        order_by="HotlineHoliday.day",
        lazy="selectin",
    )


class HotlineHoliday(Base):
    """A day a hotline is closed (a public holiday in its region)."""

    __tablename__ = "help_hotline_holiday"
    __table_args__ = (UniqueConstraint("hotline_id", "day"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    hotline_id: Mapped[int] = mapped_column(ForeignKey("help_hotline.id", ondelete="CASCADE"))
    day: Mapped[date] = mapped_column(Date)
    name: Mapped[str] = mapped_column(String(100), default="")

    hotline: Mapped[Hotline] = relationship(back_populates="holidays")
