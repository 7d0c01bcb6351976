"""Health-side models. The credit store's models live in ``backend.credit`` on their own bind."""

from .accounts import Credential, Role
from .appeals import Appeal, CodeHistory, DataAccess, MovedCreditAct
from .audit import AuditEntry
from .checkpoints import (
    CATEGORIES,
    CheckIn,
    Checkpoint,
    DeviceBundle,
    RefusalCount,
    ScanReceipt,
)
from .citizens import Citizen, Questionnaire, QuestionnaireTravel
from .codes import CodeState, RulesetVersion
from .enrolments import Enrolment, VerificationCode
from .records import AreaRiskLevel, GovRecord
from .trust import TrustedIssuer
from .types import UTCDateTime, utcnow

__all__ = [
    "Appeal",
    "CodeHistory",
    "DataAccess",
    "MovedCreditAct",
    "AreaRiskLevel",
    "AuditEntry",
    "CATEGORIES",
    "CheckIn",
    "Checkpoint",
    "DeviceBundle",
    "RefusalCount",
    "ScanReceipt",
    "Citizen",
    "CodeState",
    "Credential",
    "Enrolment",
    "GovRecord",
    "Questionnaire",
    "QuestionnaireTravel",
    "Role",
    "TrustedIssuer",
    "RulesetVersion",
    "UTCDateTime",
    "VerificationCode",
    "utcnow",
]
