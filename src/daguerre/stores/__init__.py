"""Stores move bytes and nothing else: no hashing, no quota, no tenants, no inspection."""

from daguerre.stores.base import (
    Capabilities,
    ObjectReader,
    Store,
    Stored,
    StoreError,
    StoreFull,
    StoreNotFound,
    StoreSizeMismatch,
    StoreUnavailable,
)

__all__ = [
    "Capabilities",
    "ObjectReader",
    "Store",
    "StoreError",
    "StoreFull",
    "StoreNotFound",
    "StoreSizeMismatch",
    "StoreUnavailable",
    "Stored",
]
