"""Domain events and the transactional outbox.

`publish(session, event)` writes an event in the caller's transaction; the `Dispatcher` delivers it
after commit, at least once and in order per aggregate, to every `Subscriber` that wants its type.
"""

from mlplatform.kernel.events.dispatcher import Dispatcher, Subscriber
from mlplatform.kernel.events.model import DomainEvent, StoredEvent
from mlplatform.kernel.events.outbox import publish

__all__ = ["Dispatcher", "DomainEvent", "StoredEvent", "Subscriber", "publish"]
