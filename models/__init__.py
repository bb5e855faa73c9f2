"""The domain model: typed SQLAlchemy models and pure rules, free of Flask."""

from .accounts import Civility, Grant, User, search_key
from .audit import AuditEvent
from .base import Base, utcnow
from .habilitations import FEATURES, HABILITATION_LABELS, Habilitation, can
from .jobs import Job, JobKind, JobStatus
from .operations import Operation, OperationItem, OperationKind
from .outbox import EmailStatus, OutboundEmail, OutboundEmailRequest
from .reference import Company, Establishment
from .requests import AccountRequest, RequestKind, RequestStatus
from .rules import InvalidValue

__all__ = [
    "FEATURES",
    "HABILITATION_LABELS",
    "AccountRequest",
    "AuditEvent",
    "Base",
    "Civility",
    "Company",
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
    "search_key",
    "utcnow",
]
