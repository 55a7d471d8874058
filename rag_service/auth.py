"""API keys with roles and tenant scope. Keys are configured as sha256 hashes."""

from __future__ import annotations

import hashlib
import hmac
from dataclasses import dataclass

from rag_service.config import ApiKey, Role


@dataclass(frozen=True, slots=True)
class Caller:
    name: str
    role: Role
    tenants: tuple[str, ...]

    def may_access(self, tenant_id: str) -> bool:
        return "*" in self.tenants or tenant_id in self.tenants


class KeyRing:
    def __init__(self, keys: tuple[ApiKey, ...]) -> None:
        if len({k.sha256 for k in keys}) != len(keys):  # Settings refuses this already
            raise ValueError("two API keys have the same sha256")
        self._keys = keys

    def authenticate(self, presented: str | None) -> Caller | None:
        if not presented or len(presented) > 256:
            return None
        digest = hashlib.sha256(presented.encode()).hexdigest()
        found: ApiKey | None = None
        for key in self._keys:  # compare every key: timing does not reveal which prefix matched
            if hmac.compare_digest(digest, key.sha256):
                found = key
        return Caller(found.name, found.role, found.tenants) if found else None
