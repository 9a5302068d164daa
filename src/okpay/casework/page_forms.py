"""What the casework pages share: evidence files given per kind (one file input each), kept
across a refused form so nobody picks them twice, and the refusal shown by its field."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Annotated

from fastapi import Form, UploadFile
from sqlalchemy.orm import Session

from okpay.casework import cases
from okpay.casework.models import EVIDENCE_KINDS, label
from okpay.core.errors import DomainError
from okpay.support import customer as support_customer
from okpay.support import files as support_files

Files = Annotated[list[UploadFile], Form()]
Kept = Annotated[list[str], Form()]


@dataclass
class EvidenceForm:
    """The files of one submission, per kind: new uploads and tokens of files kept earlier."""

    uploaded: dict[str, list[UploadFile]]
    kept: dict[str, list[str]]


def evidence_form(
    id_front: Files = [],  # noqa: B006 - FastAPI copies defaults
    id_back: Files = [],  # noqa: B006
    passport: Files = [],  # noqa: B006
    address: Files = [],  # noqa: B006
    income: Files = [],  # noqa: B006
    other: Files = [],  # noqa: B006
    kept_id_front: Kept = [],  # noqa: B006
    kept_id_back: Kept = [],  # noqa: B006
    kept_passport: Kept = [],  # noqa: B006
    kept_address: Kept = [],  # noqa: B006
    kept_income: Kept = [],  # noqa: B006
    kept_other: Kept = [],  # noqa: B006
) -> EvidenceForm:
    """A dependency: the evidence inputs of a case form (``<kind>`` files, ``kept_<kind>``)."""
    uploaded = {"id_front": id_front, "id_back": id_back, "passport": passport,
                "address": address, "income": income, "other": other}  # fmt: skip
    kept = {"id_front": kept_id_front, "id_back": kept_id_back, "passport": kept_passport,
            "address": kept_address, "income": kept_income, "other": kept_other}  # fmt: skip
    return EvidenceForm(uploaded=uploaded, kept=kept)


@dataclass
class CheckedEvidence:
    """Files that passed their checks (per kind), refusals per kind, and what a form shown
    again lists as already attached."""

    new: dict[str, list[support_files.CheckedFile]] = field(default_factory=dict)
    kept_tokens: dict[str, list[str]] = field(default_factory=dict)
    errors: dict[str, str] = field(default_factory=dict)

    def present(self, kind: str) -> bool:
        return bool(self.new.get(kind)) or bool(self.kept_tokens.get(kind))

    def kept_view(self) -> dict[str, list[dict[str, str]]]:
        """Park the new files that passed and list them with those parked before."""
        return {
            kind: support_customer.rekeep(self.kept_tokens.get(kind, []), self.new.get(kind, []))
            for kind in EVIDENCE_KINDS
        }

    def take(self, session: Session) -> list[cases.EvidenceFile]:
        """The files to store with the case: those parked earlier, then the new ones."""
        out = []
        for kind in EVIDENCE_KINDS:
            taken = support_customer.take_kept_files(session, self.kept_tokens.get(kind, []))
            out += [cases.EvidenceFile(kind, f) for f in [*taken, *self.new.get(kind, [])]]
        return out


def check_evidence(form: EvidenceForm, kinds: tuple[str, ...]) -> CheckedEvidence:
    """Check every file of the kinds the form asks for (other inputs are ignored)."""
    result = CheckedEvidence()
    for kind in kinds:
        uploads = support_customer.read_uploads(
            (f.filename or "", f.file) for f in form.uploaded.get(kind, [])
        )
        result.new[kind] = uploads.files
        # Valid tokens only (rekeep with no new files stores nothing).
        result.kept_tokens[kind] = [
            item["token"] for item in support_customer.rekeep(form.kept.get(kind, []), [])
        ]
        if uploads.errors:
            result.errors[kind] = " ".join(uploads.errors)
    return result


def kept_again(files: list[cases.EvidenceFile]) -> dict[str, list[dict[str, str]]]:
    """After a refusal from the service: park the files again, per kind, for the form."""
    return {
        kind: support_customer.keep_files([f.file for f in files if f.kind == kind])
        for kind in EVIDENCE_KINDS
    }


def kind_labels() -> dict[str, str]:
    return {kind: label(EVIDENCE_KINDS, kind) for kind in EVIDENCE_KINDS}


def refusal(err: DomainError, fields: tuple[str, ...]) -> tuple[dict[str, str], str | None]:
    """A service's refusal as the form shows it: next to its field when the form has one."""
    text = err.translated()
    if err.field in fields:
        return {str(err.field): text}, None
    return {}, text
