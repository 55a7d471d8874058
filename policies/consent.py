"""Consent policy: which consent tags allow which assistant purposes. Fails closed."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path

from policies.loader import DEFAULT_POLICY_DIR, load_policy_file
from policies.models import Admit, ConsentDecision, ConsentPolicyDoc, ConsentStatus, Exclude


class ConsentPolicy:
    """Decides, from a record's consent tags, whether and for which purposes it may be indexed."""

    def __init__(self, doc: ConsentPolicyDoc) -> None:
        self._doc = doc

    @classmethod
    def from_file(cls, path: Path | None = None) -> ConsentPolicy:
        return cls(load_policy_file(path or DEFAULT_POLICY_DIR / "consent.yaml", ConsentPolicyDoc))

    @property
    def version(self) -> str:
        return self._doc.version

    @property
    def purposes(self) -> tuple[str, ...]:
        return tuple(sorted(self._doc.purposes))

    def knows_purpose(self, purpose: str) -> bool:
        return purpose in self._doc.purposes

    def decide(self, consent: Mapping[str, ConsentStatus]) -> ConsentDecision:
        version = self._doc.version
        if not consent:
            return Exclude(reason="consent_missing", policy_version=version)
        if any(tag in consent for tag in self._doc.blocking_tags):
            return Exclude(reason="blocked_tag", policy_version=version)
        granted = tuple(sorted(t for t, s in consent.items() if s is ConsentStatus.GRANTED))
        purposes = tuple(
            sorted(
                name
                for name, rule in self._doc.purposes.items()
                if any(consent.get(tag) is ConsentStatus.GRANTED for tag in rule.allowed_by)
            )
        )
        if purposes:
            return Admit(purposes=purposes, granted_tags=granted, policy_version=version)
        relevant = {tag for rule in self._doc.purposes.values() for tag in rule.allowed_by}
        statuses = {consent[tag] for tag in relevant if tag in consent}
        if ConsentStatus.REVOKED in statuses:
            return Exclude(reason="consent_revoked", policy_version=version)
        if ConsentStatus.DENIED in statuses:
            return Exclude(reason="consent_denied", policy_version=version)
        if not statuses:
            return Exclude(reason="consent_missing", policy_version=version)
        return Exclude(reason="no_purpose", policy_version=version)
