"""The one outer retry policy: how many times an accepted alert is tried before it is parked, and how far
apart. The Functions host applies it to the Storage Queue through host.json (extensions.queues:
maxDequeueCount, visibilityTimeout); `relay serve`'s worker applies the same numbers to its SQLite inbox.
A test holds host.json to these values. Each try has its own inner retries per destination
(relay.pipeline.send_with_retries), so these are for outages that outlast a try."""
from __future__ import annotations

MAX_TRIES = 5  # host.json maxDequeueCount
RETRY_SECONDS = 300  # host.json visibilityTimeout 00:05:00

