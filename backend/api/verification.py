"""Identity verification: a registration becomes the person's account, or sees nothing."""

from __future__ import annotations

from ..auth import current_principal, requires
from ..limits import (
    count_verification_attempt,
    count_verification_request,
    within_texts_per_person,
)
from ..models import Role
from ..services import context
from ..services.verification import (
    confirm_code,
    get_enrolment,
    issue_counter_code,
    request_sms_code,
)
from .auditing import current_actor
from .base import Blueprint
from .common import iso, me, now, ruleset_cache
from .schemas.verification import (
    CounterCodeSchema,
    CounterVerificationSchema,
    VerificationConfirmSchema,
    VerificationRequestedSchema,
    VerificationRequestSchema,
    VerificationResultSchema,
)

blp = Blueprint("verification", __name__, url_prefix="/api/v1",
                description="Identity verification")


@blp.post("/me/verification")
@requires(Role.CITIZEN, unverified=True)
@blp.arguments(VerificationRequestSchema)
@blp.response(202, VerificationRequestedSchema)
def request_code(data):
    """Ask for a one-time code by SMS to the phone the government holds for this ID
    number. The answer is the same whether or not a code was sent."""
    count_verification_request()
    enrolment = get_enrolment(current_principal().enrolment_id)
    request_sms_code(enrolment, context.identity_keys(), now(), context.notifier(),
                     within_texts_per_person)
    return {"status": "sent if the phone is on record", "method": data["method"]}


@blp.post("/me/verification/confirm")
@requires(Role.CITIZEN, unverified=True)
@blp.arguments(VerificationConfirmSchema)
@blp.response(200, VerificationResultSchema)
def confirm(data):
    """Confirm the one-time code: this account becomes the person's; any earlier
    account of theirs stops working."""
    count_verification_attempt()
    principal = current_principal()
    enrolment = get_enrolment(principal.enrolment_id)
    if enrolment.verified_at is not None:
        holder = me()
        return {"verified": True, "citizen_id": holder.id, "subject": holder.subject,
                "recovered": False}
    bound = confirm_code(enrolment, principal.credential_id, data["code"],
                         context.identity_keys(), now(), ruleset_cache(), context.notifier())
    return {"verified": True, "citizen_id": bound.citizen.id,
            "subject": bound.citizen.subject, "recovered": bound.recovered}


@blp.post("/registrar/verifications")
@requires(Role.REGISTRAR)
@blp.arguments(CounterVerificationSchema)
@blp.response(201, CounterCodeSchema)
def counter_code(data):
    """In person: the registrar has checked the ID card; the code is handed to the person,
    who confirms it on their phone. Audited."""
    code, expires_at = issue_counter_code(current_actor(), data["citizen_id"],
                                          data["id_number"], context.identity_keys(), now())
    return {"code": code, "expires_at": iso(expires_at)}
