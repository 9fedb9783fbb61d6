"""Everything a service function needs, built once by app.build_runtime and passed explicitly."""

from __future__ import annotations

import os
import secrets
import socket
from dataclasses import dataclass, field

from daguerre.db.database import Database
from daguerre.policy import Policy
from daguerre.settings import Settings
from daguerre.stores.base import Store


@dataclass
class Runtime:
    settings: Settings
    db: Database
    policy: Policy
    stores: dict[str, Store]
    default_store: str
    # Staged data (PUT /stage); a FilesystemStore, or a prefixed view of a shared backend.
    staging: Store
    # Store weights ([<store>] weight): reads and direct_url prefer heavier stores.
    weights: dict[str, int] = field(default_factory=dict)
    # Identifies this process in leases: host, pid and a boot token (pids get reused).
    process_id: str = field(
        default_factory=lambda: f"{socket.gethostname()}:{os.getpid()}:{secrets.token_hex(4)}"
    )

    def store(self, store_id: str | None = None) -> Store:
        return self.stores[store_id or self.default_store]

    def by_weight(self, store_ids: list[str]) -> list[str]:
        """Store ids, heaviest first; the default store wins ties."""
        return sorted(store_ids, key=lambda s: (-self.weights.get(s, 0), s != self.default_store, s))

    @property
    def multi_store(self) -> bool:
        return bool(self.settings.DEFAULT.enabled_backends)

    async def close(self) -> None:
        for store in self.stores.values():
            await store.close()
        await self.db.dispose()
