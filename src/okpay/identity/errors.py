"""Identity's domain errors: what sign-in, links, codes and re-authentication refuse with."""

from __future__ import annotations

from okpay.core.errors import DomainError, StepRequired
from okpay.core.i18n import N_


class InvalidCredentials(DomainError):
    code = "invalid_credentials"
    status = 401
    message = N_("The e-mail address or password is incorrect.")
    persist = True


class AccountLocked(DomainError):
    code = "account_locked"
    status = 403
    message = N_(
        "For your security, sign-in to this account is paused. If the account exists, we have "
        "sent its owner an e-mail with a link to unlock it, or you can reset the password."
    )
    persist = True


class EmailNotVerified(DomainError):
    code = "email_not_verified"
    status = 403
    message = N_("Please confirm your e-mail address first. We can send the link again.")
    persist = True


class AccountClosed(DomainError):
    code = "account_closed"
    status = 403
    message = N_("This account is closed. Please contact support if you need help.")


class InvalidCode(DomainError):
    code = "invalid_code"
    status = 400
    message = N_("That code is not correct or has already been used. Please try again.")
    persist = True


class TwoFactorRequired(DomainError):
    code = "two_factor_required"
    status = 401
    message = N_("Enter the code from your authenticator app.")


class LinkInvalid(DomainError):
    code = "link_invalid"
    status = 400
    message = N_("This link is not valid. Please request a new one.")


class LinkExpired(DomainError):
    code = "link_expired"
    status = 400
    message = N_("This link has expired. Please request a new one.")


class LinkUsed(DomainError):
    code = "link_used"
    status = 400
    message = N_("This link has already been used. Please request a new one if you still need it.")


class WrongPassword(DomainError):
    code = "wrong_password"
    status = 400
    message = N_("Your current password is not correct.")
    field = "password"
    persist = True


class PasswordChangeRequired(StepRequired):
    code = "password_change_required"
    message = N_(
        "Your account was recovered with help from support. Please choose a new password "
        "before doing anything else."
    )
    page = "/account/recovered/password"


class TotpEnrolmentRequired(StepRequired):
    code = "totp_enrolment_required"
    message = N_(
        "Your account was recovered with help from support. Please set up two-factor "
        "authentication again before doing anything else."
    )
    page = "/account/recovered/two-factor"


class PasswordReused(DomainError):
    code = "password_reused"
    status = 422
    message = N_("Please choose a password you have not used on this account before.")


class SignInBlocked(DomainError):
    code = "sign_in_blocked"
    status = 403
    message = N_(
        "For your security, this sign-in was stopped. If it was you, reset your password or "
        "contact support; we have opened a review and will e-mail you."
    )
    persist = True
