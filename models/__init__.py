"""The domain model: typed SQLAlchemy models and pure rules, free of Flask."""

from .accounts import Civility, Grant, User, search_key
from .audit import AuditEvent
from .base import Base, utcnow
from .habilitations import FEATURES, HABILITATION_LABELS, Habilitation, can
from .jobs import Job, JobKind, JobStatus
from .operations import Operation, OperationItem, OperationKind
from .outbox import (
    EMAIL_KIND_LABELS,
    EmailKind,
    EmailStatus,
    OutboundEmail,
    OutboundEmailRequest,
    email_kind_label,
)
from .reference import Company, Establishment
from .requests import AccountRequest, RequestKind, RequestStatus
from .rules import InvalidValue

__all__ = [
    "EMAIL_KIND_LABELS",
    "FEATURES",
    "HABILITATION_LABELS",
    "AccountRequest",
    "AuditEvent",
    "Base",
    "Civility",
    "Company",
    "EmailKind",
    "EmailStatus",
    "Establishment",
    "Grant",
    "Habilitation",
    "InvalidValue",
    "Operation",
    "OperationItem",
    "OperationKind",
    "Job",
    "JobKind",
    "JobStatus",
    "OutboundEmail",
    "OutboundEmailRequest",
    "RequestKind",
    "RequestStatus",
    "User",
    "can",
    "email_kind_label",
    "search_key",
    "utcnow",
]
