"""Every table OKPay has. Importing this module registers each domain's models on
``okpay.db.Base.metadata``; the app, the CLI, the worker, Alembic, the tests and the benches
import it. ``okpay.db`` itself knows no domain, so a domain importing ``db`` makes no cycle.
"""

from __future__ import annotations

from sqlalchemy import MetaData

from okpay.casework import cases as casework_cases  # registers casework's ticket hook
from okpay.casework import freeze as casework_freeze  # and its "this wasn't me" hook
from okpay.casework import models as casework_models
from okpay.casework import risk_review as casework_risk_review  # and the risk controls' cases
from okpay.community import models as community_models
from okpay.community import search as community_search  # solved threads in help search
from okpay.core import audit
from okpay.db import Base
from okpay.helpcenter import hotline_models as helpcenter_hotline_models
from okpay.helpcenter import models as helpcenter_models
from okpay.identity import models as identity_models
from okpay.mail import models as mail_models
from okpay.risk import account_events as risk_account_events  # sign-in, reset, contacts
from okpay.risk import counters as risk_counters  # counts money as it moves
from okpay.risk import engine as risk_engine  # screens it before it moves
from okpay.risk import models as risk_models
from okpay.support import callback_models as support_callback_models
from okpay.support import chat_models as support_chat_models
from okpay.support import models as support_models
from okpay.support.wechat import delivery as support_wechat_delivery  # replies to WeChat
from okpay.support.wechat import models as support_wechat_models
from okpay.wallet import models as wallet_models

#: The modules that declare tables, lowest layer first.
MODULES = (
    audit,
    identity_models,
    mail_models,
    wallet_models,
    risk_models,
    helpcenter_models,
    helpcenter_hotline_models,
    community_models,
    support_models,
    support_chat_models,
    support_callback_models,
    support_wechat_models,
    casework_models,
)


HOOKS = (
    community_search,
    casework_cases,
    casework_freeze,
    casework_risk_review,
    risk_account_events,
    risk_counters,
    risk_engine,
    support_wechat_delivery,
)


def metadata() -> MetaData:
    """All of OKPay's tables (every module above is imported, so all are registered)."""
    return Base.metadata
