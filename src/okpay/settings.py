"""Runtime configuration: one pydantic-settings class, read from OKPAY_* variables."""

from __future__ import annotations

from pathlib import Path
from typing import Literal

from pydantic import BaseModel, Field, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

DEV_SECRET_KEY = "dev-only-secret-key-not-for-production"
DEV_WECHAT_TOKEN = "okpay-dev-wechat"


class ReceivingAccount(BaseModel):
    """OKPay's own bank account that customers send bank-transfer top-ups to."""

    bank_name: str = Field(min_length=1, max_length=120)
    account_name: str = Field(min_length=1, max_length=120)
    account_number: str = Field(min_length=1, max_length=64)
    branch: str = Field("", max_length=120)
    swift: str = Field("", max_length=11)
    # A sandbox account (development and tests): the page says no real money goes there.
    sandbox: bool = False


def _sandbox_account(bank: str, name: str, number: str, swift: str) -> ReceivingAccount:
    return ReceivingAccount(
        bank_name=bank, account_name=name, account_number=number, swift=swift, sandbox=True
    )


# Outside prod, without OKPAY_BANK_RECEIVING_ACCOUNTS: made-up sandbox accounts, so the
# bank top-up can be tried end to end. Never real account numbers.
SANDBOX_RECEIVING_ACCOUNTS = {
    "CNY": _sandbox_account("OKPay 沙箱银行", "OKPay 沙箱收款账户", "6200 0000 0000 0001", ""),
    "USD": _sandbox_account("OKPay Sandbox Bank", "OKPay Sandbox Ltd", "000000000002", "OKPYXXSB"),
    "EUR": _sandbox_account(
        "OKPay Sandbox Bank", "OKPay Sandbox Ltd", "XX00 0000 0000 0000 0003", "OKPYXXSB"
    ),
    "HKD": _sandbox_account("OKPay Sandbox Bank", "OKPay Sandbox Ltd", "000-000000-004", ""),
    "JPY": _sandbox_account("OKPay Sandbox Bank", "OKPay Sandbox Ltd", "0000005", ""),
}


class Settings(BaseSettings):
    """Every knob OKPay reads; see docs/configuration.md for each one."""

    model_config = SettingsConfigDict(env_prefix="OKPAY_", env_file=None, extra="ignore")

    env: Literal["dev", "test", "prod"] = "dev"
    data_dir: Path = Path("var")
    database_url: str = ""
    # A streaming replica of a PostgreSQL primary for read-only work (history, statements,
    # exports, reports, help search); empty: everything on the primary. Reads go back to the
    # primary when it lags by more than max_lag seconds, is unreachable, or has not replayed
    # the reader's own recent write within wait_ms (docs/deployment.md).
    database_replica_url: str = ""
    database_replica_max_lag_seconds: float = Field(5.0, gt=0, le=3600)
    database_replica_wait_ms: int = Field(50, ge=0, le=5000)
    base_url: str = "http://127.0.0.1:8000"
    secret_key: str = ""
    redis_url: str = ""
    # Every name OKPay keeps in Redis (job queue, chat channels, rate-limit counts) starts
    # with this: installations that share one Redis database need different ones.
    redis_namespace: str = Field("okpay", pattern=r"^[A-Za-z0-9]{1,64}$")  # huey keeps only these

    # Outbound e-mail. Without smtp_host, mail goes to the outbox under data_dir.
    mail_from: str = "OKPay <no-reply@okpay.example>"
    support_address: str = "support@okpay.example"
    smtp_host: str = ""
    smtp_port: int = 587
    smtp_user: str = ""
    smtp_password: str = ""
    smtp_starttls: bool = True
    mail_in_port: int = 2525
    sms_webhook_url: str = ""
    sms_webhook_token: str = ""

    # Background jobs: run them inline (tests) or on the embedded/Redis queue.
    jobs_immediate: bool = False
    jobs_workers: int = 2
    embedded_worker: bool = True
    # Build the help search index and load the triage model when a web process starts, and
    # answer /readyz with 503 until done. Unset: on, except with env=test.
    warm_up: bool | None = None

    # Security policy.
    session_days: int = 30
    session_idle_hours: int = 72
    reset_token_minutes: int = 30
    verify_token_hours: int = 48
    unlock_token_hours: int = 24
    # After an assisted unlock by support, no money leaves the wallet for this long.
    recovery_cooling_off_hours: int = Field(24, ge=0)
    login_lock_threshold: int = Field(10, ge=3)
    login_delay_after: int = Field(3, ge=1)
    ip_failures_per_hour: int = Field(100, ge=10)
    verify_resend_seconds: int = 60
    trusted_proxies: list[str] = Field(default_factory=list)
    # A header your CDN or proxy sets to the client's country (e.g. CF-IPCountry); sign-ins
    # from a new country then get a notice, like new devices do.
    country_header: str = ""

    # Idempotency keys: how long an in-flight claim is held before another attempt may take
    # it over (a crashed request), and how long a key is remembered at all.
    idempotency_lease_seconds: int = Field(60, ge=5)
    idempotency_key_hours: int = Field(24, ge=1)

    # Service centre: opening hours for SLA clocks (business hours), files, inbound e-mail.
    support_timezone: str = "Asia/Shanghai"
    support_weekdays: list[int] = Field(default_factory=lambda: [0, 1, 2, 3, 4, 5, 6])
    support_open_hour: int = Field(8, ge=0, le=23)
    support_close_hour: int = Field(22, ge=1, le=24)
    # Where reports of suspicious activity are announced when no agent is in the security team.
    security_alert_address: str = "security@okpay.example"
    # Where provider events that do not match the ledger (reconciliation exceptions) are
    # announced; empty: the security alert address.
    payments_alert_address: str = ""
    upload_max_bytes: int = Field(10 * 1024 * 1024, ge=1024)
    upload_max_files: int = Field(5, ge=1)
    # Evidence files (identity documents, proofs) of a case closed this many days ago are
    # deleted; the decision and its reason stay.
    evidence_retention_days: int = Field(180, ge=1)
    # Request bodies over these caps are refused (413) before anything parses or spools them:
    # request_max_bytes for every route, upload_request_max_bytes for routes that take files
    # (0: room for upload_max_files files of upload_max_bytes each, plus 1 MiB for the form).
    request_max_bytes: int = Field(2 * 1024 * 1024, ge=64 * 1024)
    upload_request_max_bytes: int = Field(0, ge=0)
    inbound_per_hour: int = Field(20, ge=1)
    # Inbound mail whose envelope sender differs from From: is not the requester's own words.
    inbound_check_envelope: bool = True
    # Authentication-Results (RFC 8601) are believed only from these authserv-ids (comma
    # separated): the receiving MTA's, which strips any copies a sender wrote. Empty: none.
    inbound_trusted_authserv_ids: str = ""
    chat_accept_seconds: int = Field(180, ge=10)

    # Help centre: public endpoints called as people type, limited per address and minute.
    help_search_per_minute: int = Field(120, ge=1)
    triage_per_minute: int = Field(30, ge=1)
    help_events_per_minute: int = Field(60, ge=1)

    # Wallet: how many people a customer may look up as new recipients (anyone they have not
    # paid before), per hour and per day, on the send page, the API and in batches; shared
    # across processes through Redis when OKPAY_REDIS_URL is set (docs/security.md).
    recipient_lookups_per_hour: int = Field(100, ge=1)
    recipient_lookups_per_day: int = Field(300, ge=1)
    # Where customers send bank-transfer top-ups, per currency (JSON object keyed by ISO
    # code; docs/configuration.md). Empty outside prod: the sandbox accounts above.
    bank_receiving_accounts: dict[str, ReceivingAccount] = Field(default_factory=dict)

    # WeChat Official Account (docs/wechat.md): the token typed into the platform's server
    # settings (signs its pushes), the app id and secret for its API, and the API's base URL.
    # Empty token outside dev: the webhook refuses everything. In dev, the token defaults to
    # DEV_WECHAT_TOKEN and the API to the app's own WeChat sandbox at /dev/sandbox/wechat.
    wechat_token: str = ""
    wechat_app_id: str = ""
    wechat_app_secret: str = ""
    wechat_api_base: str = ""

    @model_validator(mode="after")
    def _fill_defaults(self) -> Settings:
        if not self.database_url:
            self.database_url = f"sqlite:///{self.data_dir / 'okpay.sqlite3'}"
        if self.database_replica_url:
            for name, url in (
                ("OKPAY_DATABASE_URL", self.database_url),
                ("OKPAY_DATABASE_REPLICA_URL", self.database_replica_url),
            ):
                if not url.startswith(("postgresql", "postgres:")):
                    raise ValueError(
                        f"OKPAY_DATABASE_REPLICA_URL needs PostgreSQL: {name} is not a"
                        " postgresql:// URL (a replica is a PostgreSQL standby; leave it unset"
                        " on SQLite)"
                    )
        if not self.secret_key:
            if self.env == "prod":
                raise ValueError("OKPAY_SECRET_KEY must be set when OKPAY_ENV=prod")
            self.secret_key = DEV_SECRET_KEY
        if self.env == "prod" and self.secret_key == DEV_SECRET_KEY:
            raise ValueError("OKPAY_SECRET_KEY must not be the development key in prod")
        self.base_url = self.base_url.rstrip("/")
        self.bank_receiving_accounts = {
            code.upper(): account for code, account in self.bank_receiving_accounts.items()
        }
        if self.is_dev:
            self.wechat_token = self.wechat_token or DEV_WECHAT_TOKEN
            self.wechat_app_id = self.wechat_app_id or "wx-okpay-sandbox"
            self.wechat_app_secret = self.wechat_app_secret or "okpay-sandbox-secret"
            self.wechat_api_base = self.wechat_api_base or f"{self.base_url}/dev/sandbox/wechat"
        elif self.env == "prod" and self.wechat_token == DEV_WECHAT_TOKEN:
            raise ValueError("OKPAY_WECHAT_TOKEN must not be the development token in prod")
        self.wechat_api_base = (self.wechat_api_base or "https://api.weixin.qq.com").rstrip("/")
        if not self.bank_receiving_accounts and self.env != "prod":
            self.bank_receiving_accounts = dict(SANDBOX_RECEIVING_ACCOUNTS)
        return self

    @property
    def is_dev(self) -> bool:
        return self.env == "dev"

    @property
    def warms_up(self) -> bool:
        return self.warm_up if self.warm_up is not None else self.env != "test"

    @property
    def upload_request_limit(self) -> int:
        """The body cap of a route that takes files."""
        if self.upload_request_max_bytes:
            return max(self.upload_request_max_bytes, self.request_max_bytes)
        computed = self.upload_max_bytes * self.upload_max_files + 1024 * 1024
        return max(computed, self.request_max_bytes)

    @property
    def secure_cookies(self) -> bool:
        return self.base_url.startswith("https://") or self.env == "prod"


_current: Settings | None = None


def get_settings() -> Settings:
    """The process-wide settings, read from the environment on first use."""
    global _current
    if _current is None:
        _current = Settings()
    return _current


def configure(settings: Settings | None) -> None:
    """Install settings for this process (tests, CLI flags); None re-reads the environment."""
    global _current
    _current = settings
