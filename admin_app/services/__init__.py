"""Domain operations: the only code that changes state.

Each public function takes the SQLAlchemy session and the `Actor` doing the
change, writes its audit entries and its outbox emails, and runs as one
transaction (`with common.transaction(session):`): committed on success, rolled back with a
`ServiceError` carrying a French message on refusal.
"""

from .common import SYSTEM as SYSTEM_ACTOR
from .common import Actor, ServiceError

__all__ = ["SYSTEM_ACTOR", "Actor", "ServiceError"]
