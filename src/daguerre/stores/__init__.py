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

# Store identifiers starting with this are reserved for the service's own stores (Glance's
# os_glance_staging_store, os_glance_tasks_store): enabled_backends may not use them (Glance
# refuses to start, and so do we).
RESERVED_PREFIX = "os_glance_"
# Staged data (PUT /v2/images/{id}/stage): the id of the staging store, in upload guards too.
STAGING_STORE = "os_glance_staging_store"
# Parts of one S3 multipart upload sent at once ([<store>] s3_store_parts_in_flight).
S3_PARTS_IN_FLIGHT = 4
# With [DEFAULT] staging_backend, staged objects live in that store under this key prefix.
STAGING_KEY_PREFIX = "staging-"

__all__ = [
    "RESERVED_PREFIX",
    "STAGING_KEY_PREFIX",
    "STAGING_STORE",
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
