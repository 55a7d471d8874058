from __future__ import annotations

from pathlib import Path

import pytest

from policies.consent import ConsentPolicy
from policies.errors import PolicyFileError
from policies.models import Admit, ConsentPolicyDoc, ConsentStatus, Exclude

G, R, D = ConsentStatus.GRANTED, ConsentStatus.REVOKED, ConsentStatus.DENIED


@pytest.fixture(scope="module")
def policy() -> ConsentPolicy:
    return ConsentPolicy.from_file()


@pytest.mark.parametrize(
    ("consent", "expected"),
    [
        ({}, "consent_missing"),
        ({"marketing": G}, "consent_missing"),
        ({"assistant_use": R}, "consent_revoked"),
        ({"assistant_use": D, "marketing": G}, "consent_denied"),
        ({"assistant_use": G, "do_not_process": G}, "blocked_tag"),
        ({"assistant_use": G}, ("sales_assistant", "support_assistant")),
        ({"sales_ai": G}, ("sales_assistant",)),
        ({"support_ai": G, "sales_ai": R}, ("support_assistant",)),
    ],
)
def test_decide(policy: ConsentPolicy, consent: dict[str, ConsentStatus], expected: object) -> None:
    decision = policy.decide(consent)
    if isinstance(expected, str):
        assert isinstance(decision, Exclude)
        assert decision.reason == expected
    else:
        assert isinstance(decision, Admit)
        assert decision.purposes == expected
    assert decision.policy_version == policy.version


def test_invalid_policy_file_fails_at_load(tmp_path: Path) -> None:
    bad = tmp_path / "consent.yaml"
    bad.write_text("kind: consent\nversion: v1\npurposes: {}\n")
    with pytest.raises(PolicyFileError, match="purposes"):
        ConsentPolicy.from_file(bad)


def test_purpose_names_are_validated() -> None:
    with pytest.raises(ValueError, match="purpose name"):
        ConsentPolicyDoc.model_validate(
            {"kind": "consent", "version": "v", "purposes": {"Bad Name": {"allowed_by": ["x"]}}}
        )
