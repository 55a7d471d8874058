"""Typed, frozen models of policy documents and policy decisions."""

from __future__ import annotations

import re
from enum import StrEnum
from typing import Literal

import regex
from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator


class Frozen(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class ConsentStatus(StrEnum):
    GRANTED = "granted"
    REVOKED = "revoked"
    DENIED = "denied"


# ---------------------------------------------------------------- consent policy document


class PurposeRule(Frozen):
    description: str = ""
    allowed_by: tuple[str, ...] = Field(min_length=1)


class ConsentPolicyDoc(Frozen):
    kind: Literal["consent"]
    version: str = Field(min_length=1)
    purposes: dict[str, PurposeRule] = Field(min_length=1)
    blocking_tags: tuple[str, ...] = ()

    @field_validator("purposes")
    @classmethod
    def _purpose_names(cls, value: dict[str, PurposeRule]) -> dict[str, PurposeRule]:
        for name in value:
            if not re.fullmatch(r"[a-z][a-z0-9_]{1,63}", name):
                raise ValueError(f"purpose name {name!r} must match [a-z][a-z0-9_]{{1,63}}")
        return value


class Admit(Frozen):
    """The record may be indexed; chunks are usable only for these purposes."""

    decision: Literal["admit"] = "admit"
    purposes: tuple[str, ...]
    granted_tags: tuple[str, ...]
    policy_version: str


class Exclude(Frozen):
    """The record must not be indexed (and must be purged if it was)."""

    decision: Literal["exclude"] = "exclude"
    reason: Literal["consent_missing", "consent_revoked", "consent_denied", "blocked_tag", "no_purpose"]
    policy_version: str


ConsentDecision = Admit | Exclude


# -------------------------------------------------------------- redaction policy document


class PatternRule(Frozen):
    name: str = Field(min_length=1)
    entity: str = Field(pattern=r"^[A-Z][A-Z0-9_]+$")
    regex: str = Field(min_length=1)
    score: float = Field(gt=0, le=1)
    context: tuple[str, ...] = ()

    @field_validator("regex")
    @classmethod
    def _compiles(cls, value: str) -> str:
        try:
            regex.compile(value)  # the engine Presidio matches with (variable-length lookbehind)
        except regex.error as exc:
            raise ValueError(f"invalid regex: {exc}") from exc
        return value


class KnownContactsRule(Frozen):
    enabled: bool = True
    entity: str = "PERSON"
    score: float = Field(default=0.95, gt=0, le=1)
    min_token_length: int = Field(default=3, ge=2)


class NameLayer(Frozen):
    """Names the NER model misses: cue phrases, name lists, short answers in chats."""

    enabled: bool = True
    entity: str = "PERSON"
    score: float = Field(default=0.7, gt=0, le=1)
    # lower-case phrases after which the next name-like words are a name ("my name is", "this is")
    cues: tuple[str, ...] = ()
    # after these cues even a common word is taken as a name when it is capitalised or alone
    field_cues: tuple[str, ...] = ()
    # words that are never names (common English words that are also in the census lists)
    not_names: tuple[str, ...] = ()
    extra_first_names: tuple[str, ...] = ()
    # words ignored when judging whether a short customer turn is just a name ("yes", "sure", "its")
    fillers: tuple[str, ...] = ()
    answer_max_words: int = Field(default=4, ge=0)
    last_name_max_zipf: float = 4.0
    census_max_zipf: float = 5.0  # a census name this frequent as a word ("day") is never a surname
    unknown_max_zipf: float = 2.5
    common_min_zipf: float = 4.0
    # NER also runs on a copy where name-like words of all-lower-case lines are capitalised
    truecase: bool = True
    # a capitalised unknown word is a name unless it or the next word says "company"
    org_words: tuple[str, ...] = ()
    org_suffixes: tuple[str, ...] = ()


class NumberLayer(Frozen):
    """Digit runs in what people type: last-4 SSNs, account and card numbers, zip codes, phones."""

    enabled: bool = True
    entity: str = "ID_NUMBER"
    score: float = Field(default=0.6, gt=0, le=1)
    min_digits: int = Field(default=4, ge=2)
    cue_min_digits: int = Field(default=3, ge=1)  # after a cue word ("pin 145")
    cue_window: int = Field(default=6, ge=1)  # words between a cue and its number
    cues: dict[str, tuple[str, ...]] = Field(default_factory=dict)  # entity -> cue words
    # harmless shapes kept as written (regexes, case-insensitive): money, dates, times, versions
    keep: tuple[str, ...] = ()
    # words right before a number that make it a searchable business id ("ticket 88231")
    keep_after_words: tuple[str, ...] = ()
    # words right after a number that make it a quantity ("15 minutes", "250 seats")
    keep_before_words: tuple[str, ...] = ()
    spelled_digits: bool = True

    @field_validator("keep")
    @classmethod
    def _keep_compiles(cls, value: tuple[str, ...]) -> tuple[str, ...]:
        for item in value:
            try:
                regex.compile(item)
            except regex.error as exc:
                raise ValueError(f"invalid keep regex {item!r}: {exc}") from exc
        return value


class DialogueLayer(Frozen):
    """In a transcript, the rep's question types the customer's next answer."""

    enabled: bool = True
    score: float = Field(default=0.8, gt=0, le=1)
    # entity -> regexes matched (case-insensitive) in the rep's turn
    questions: dict[str, tuple[str, ...]] = Field(default_factory=dict)


class FieldLayer(Frozen):
    """CRM text as "Field: value" pairs: the field name says what the value is."""

    enabled: bool = True
    score: float = Field(default=0.85, gt=0, le=1)
    # entity -> field names, compared lower-cased without spaces, "_" or "-" ("MailingPostalCode")
    fields: dict[str, tuple[str, ...]] = Field(default_factory=dict)


class RedactionPolicyDoc(Frozen):
    kind: Literal["redaction"]
    version: str = Field(min_length=1)
    language: str = "en"
    spacy_model: str = Field(min_length=1)
    # spaCy components to run; empty = the model's full pipeline. Presidio needs only the entity
    # recognizer; without the tagger and lemmatizer, lower-cased tokens stand in for lemmas in
    # Presidio's context matching ("ssn", "phone", "card").
    spacy_pipes: tuple[str, ...] = ()
    # regions Presidio's phone recognizer (libphonenumber) tries; empty = Presidio's default list.
    # Each region is one more pass over the text; "+<country code>" numbers are caught by patterns.
    phone_regions: tuple[str, ...] = ()
    default_threshold: float = Field(ge=0, le=1)
    entities: tuple[str, ...] = Field(min_length=1)
    thresholds: dict[str, float] = Field(default_factory=dict)
    patterns: tuple[PatternRule, ...] = ()
    known_contacts: KnownContactsRule = KnownContactsRule()
    allow_list: tuple[str, ...] = ()  # exact terms never redacted (product / vendor names NER mistakes)
    # per tenant: its own products, accounts and UI terms, never redacted in that tenant's records
    tenant_allow_lists: dict[str, tuple[str, ...]] = Field(default_factory=dict)
    replacement: str = "<{entity}>"
    names: NameLayer = NameLayer()
    numbers: NumberLayer = NumberLayer()
    dialogue: DialogueLayer = DialogueLayer()
    fields: FieldLayer = FieldLayer()
    # a transcript line starts with a speaker label; markers never cover it
    speaker_label: str = r"^S\d+ (?P<role>rep|customer|other): "

    @model_validator(mode="after")
    def _consistent(self) -> RedactionPolicyDoc:
        unknown = set(self.thresholds) - set(self.entities)
        if unknown:
            raise ValueError(f"thresholds for entities that are not redacted: {sorted(unknown)}")
        for rule in self.patterns:
            if rule.entity not in self.entities:
                raise ValueError(f"pattern {rule.name!r} emits {rule.entity}, which is not in entities")
        if self.known_contacts.enabled and self.known_contacts.entity not in self.entities:
            raise ValueError("known_contacts.entity must be in entities")
        if "{entity}" not in self.replacement:
            raise ValueError("replacement must contain '{entity}'")
        # typed layer outputs (a "phone" cue, a "Zip:" field) outside `entities` are simply not
        # redacted; the layers' own default entities must be redacted
        missing = {self.names.entity, self.numbers.entity} - set(self.entities)
        if missing:
            raise ValueError(f"layer entities must be in entities: {sorted(missing)}")
        return self

    def threshold(self, entity: str) -> float:
        return self.thresholds.get(entity, self.default_threshold)


# ------------------------------------------------------------------- redaction results


class RedactedSpan(Frozen):
    """Where something was redacted. Carries offsets and type, never the original value."""

    entity_type: str
    start: int  # offsets in the original text
    end: int
    out_start: int  # offsets of the replacement marker in the redacted text
    out_end: int
    score: float
    detector: str


class Redaction(Frozen):
    text: str
    spans: tuple[RedactedSpan, ...]
    policy_version: str
    detector_version: str

    def counts(self, out_start: int = 0, out_end: int | None = None) -> dict[str, int]:
        """Entity type -> count of markers inside [out_start, out_end) of the redacted text."""
        end = len(self.text) if out_end is None else out_end
        result: dict[str, int] = {}
        for span in self.spans:
            if span.out_start >= out_start and span.out_end <= end:
                result[span.entity_type] = result.get(span.entity_type, 0) + 1
        return dict(sorted(result.items()))
