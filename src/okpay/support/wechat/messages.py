"""The platform's XML messages: parsing a push safely (size cap, no DTD or entities) into an
:class:`Incoming`, and writing one (the dev sandbox plays the platform)."""

from __future__ import annotations

import xml.etree.ElementTree as ET
from dataclasses import dataclass
from datetime import UTC, datetime

import defusedxml.ElementTree as SafeET
from defusedxml import DefusedXmlException

from okpay.core.errors import DomainError
from okpay.core.i18n import N_

#: Pushes are small (a text message is at most 2048 bytes); anything bigger is refused.
MAX_BODY_BYTES = 64 * 1024
MAX_TEXT_CHARS = 4000


class BadMessage(DomainError):
    code = "wechat_message_invalid"
    status = 400
    message = N_("The WeChat message could not be read.")


class MessageTooLarge(DomainError):
    code = "wechat_message_too_large"
    status = 413
    message = N_("The WeChat message is too large.")


@dataclass(frozen=True)
class Incoming:
    """One pushed message. ``msg_id`` is the platform's MsgId (events have none)."""

    to_user: str
    openid: str
    sent_at: datetime
    msg_type: str
    msg_id: str
    content: str = ""
    pic_url: str = ""
    media_id: str = ""


def _field(root: ET.Element, name: str, *, limit: int, required: bool = True) -> str:
    node = root.find(name)
    value = (node.text or "").strip() if node is not None else ""
    if (required and not value) or len(value) > limit:
        raise BadMessage(code="wechat_field_invalid", field=name)
    return value


def parse(body: bytes) -> Incoming:
    """The push in ``body``; MessageTooLarge over the cap, BadMessage for garbled XML, a DTD
    or entities (never expanded), or missing fields."""
    if len(body) > MAX_BODY_BYTES:
        raise MessageTooLarge()
    try:
        root = SafeET.fromstring(body, forbid_dtd=True, forbid_entities=True)
    except DefusedXmlException as exc:
        raise BadMessage(code="wechat_xml_forbidden") from exc
    except (ET.ParseError, ValueError) as exc:
        raise BadMessage() from exc
    if root.tag != "xml":
        raise BadMessage()
    created = _field(root, "CreateTime", limit=12)
    if not created.isdigit():
        raise BadMessage(code="wechat_field_invalid", field="CreateTime")
    msg_type = _field(root, "MsgType", limit=16).lower()
    incoming = Incoming(
        to_user=_field(root, "ToUserName", limit=64),
        openid=_field(root, "FromUserName", limit=64),
        sent_at=datetime.fromtimestamp(min(int(created), 2**33), UTC),
        msg_type=msg_type,
        msg_id=_field(root, "MsgId", limit=64, required=msg_type != "event"),
        content=_field(root, "Content", limit=MAX_TEXT_CHARS, required=msg_type == "text"),
        pic_url=_field(root, "PicUrl", limit=1024, required=False),
        media_id=_field(root, "MediaId", limit=128, required=msg_type == "image"),
    )
    if incoming.msg_id and not incoming.msg_id.isdigit():
        raise BadMessage(code="wechat_field_invalid", field="MsgId")
    return incoming


def build(incoming: Incoming) -> bytes:
    """``incoming`` as the platform would push it (the dev sandbox and tests)."""
    root = ET.Element("xml")
    fields = {
        "ToUserName": incoming.to_user,
        "FromUserName": incoming.openid,
        "CreateTime": str(int(incoming.sent_at.timestamp())),
        "MsgType": incoming.msg_type,
    }
    if incoming.msg_type == "text":
        fields["Content"] = incoming.content
    if incoming.msg_type == "image":
        fields["PicUrl"] = incoming.pic_url
        fields["MediaId"] = incoming.media_id
    if incoming.msg_id:
        fields["MsgId"] = incoming.msg_id
    for name, value in fields.items():
        ET.SubElement(root, name).text = value
    return ET.tostring(root, encoding="utf-8")
