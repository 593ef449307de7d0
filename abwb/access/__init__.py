"""Who may call the API: API keys (hashed), their stores and the refreshed key list."""

from abwb.access.key_ring import ApiKeyRing
from abwb.access.keys import (
    SCOPES,
    ApiKey,
    ApiKeyStore,
    MemoryApiKeyStore,
    Scope,
    generate_secret,
    hash_secret,
    validated_key,
)

__all__ = [
    "SCOPES",
    "ApiKey",
    "ApiKeyRing",
    "ApiKeyStore",
    "MemoryApiKeyStore",
    "Scope",
    "generate_secret",
    "hash_secret",
    "validated_key",
]
