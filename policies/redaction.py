"""PII redaction: Presidio beside the policy's own layers (policies/pii/), all configured from the
redaction policy (policies/redaction.yaml).

Per text: Presidio's recognizers and spaCy NER (on a truecased copy), then what the CRM knows, the
rep's question, digit runs, names and "Field: value" pairs; candidates outside the policy's
entities are dropped, names found once are spread over the record, precision rules clip and
filter, overlaps are united, markers replace the spans. Measured on real text by bench.pii_eval.

Runs fully offline: the spaCy model, the census name lists and the word frequencies come from
installed packages; tldextract (used by Presidio's e-mail recognizer) is pinned to its bundled
public-suffix snapshot. Results carry entity types and offsets, never the original values.
"""

from __future__ import annotations

import importlib.metadata
import re
from collections.abc import Sequence
from pathlib import Path
from typing import Any, Protocol

from policies.errors import PolicyFileError
from policies.loader import DEFAULT_POLICY_DIR, load_policy_file
from policies.models import Redaction, RedactionPolicyDoc
from policies.pii import spans
from policies.pii.dialogue import DialogueDetector
from policies.pii.fields import FieldDetector
from policies.pii.known import KnownIdentifiers
from policies.pii.lexicon import NameLexicon, zipf
from policies.pii.names import NameDetector
from policies.pii.numbers import NumberDetector
from policies.pii.text import WORD, Candidate, Line, label_spans, split_lines

PRODUCT_MIN_ZIPF = 3.4


class Redactor(Protocol):
    @property
    def policy_version(self) -> str: ...

    @property
    def detector_version(self) -> str: ...

    def redact(self, text: str, *, known: Sequence[str] = (), tenant: str = "") -> Redaction: ...

    def redact_many(self, items: Sequence[tuple[str, Sequence[str]]], *, tenant: str = "") -> list[Redaction]:
        """(text, identifiers the CRM knows for it) pairs in, one Redaction each, in order;
        batched NLP. Known identifiers are names, e-mail addresses, phone numbers, usernames and
        account ids of the record's contacts. `tenant` adds that tenant's allow list (its products and
        accounts, policy data)."""
        ...


LOWER_LEMMA = "crm_rag_lower_lemma"


def _register_lower_lemma() -> None:
    """A spaCy component that sets each token's lemma to its lower-cased text, so Presidio's
    context words still match when the tagger and lemmatizer are not run."""
    from spacy.language import Language

    if LOWER_LEMMA in Language.factories:
        return

    @Language.component(LOWER_LEMMA)
    def lower_lemma(doc: Any) -> Any:
        for token in doc:
            if not token.lemma_:
                token.lemma_ = token.lower_
        return doc


def load_redaction_policy(path: Path | None = None) -> RedactionPolicyDoc:
    return load_policy_file(path or DEFAULT_POLICY_DIR / "redaction.yaml", RedactionPolicyDoc)


def pin_tldextract_offline() -> None:
    """Presidio's e-mail recognizer calls tldextract, which fetches the public suffix list
    from the internet on first use. Use the snapshot bundled in the wheel instead."""
    import tldextract.tldextract as tld

    tld.TLD_EXTRACTOR.suffix_list_urls = ()
    tld.TLD_EXTRACTOR.fallback_to_snapshot = True


def _version(dist: str) -> str:
    try:
        return importlib.metadata.version(dist)
    except importlib.metadata.PackageNotFoundError:
        return "unknown"


class PresidioRedactor:
    """Presidio's AnalyzerEngine (NER on a truecased copy + pattern recognizers from the policy)
    beside the policy's own layers: what the CRM knows, dialogue context, numbers, names, fields.
    Overlaps are united and markers never cross a line break or a speaker label."""

    def __init__(self, policy: RedactionPolicyDoc) -> None:
        from presidio_analyzer import AnalyzerEngine, Pattern, PatternRecognizer
        from presidio_analyzer.nlp_engine import NlpEngineProvider

        pin_tldextract_offline()
        self._policy = policy
        try:
            provider = NlpEngineProvider(
                nlp_configuration={
                    "nlp_engine_name": "spacy",
                    "models": [{"lang_code": policy.language, "model_name": policy.spacy_model}],
                }
            )
            nlp_engine = provider.create_engine()
        except OSError as exc:
            raise PolicyFileError(
                f"spaCy model {policy.spacy_model!r} is not installed; install the package that ships it"
            ) from exc
        pipes = self._trim_pipeline(nlp_engine, policy)
        self._engine = AnalyzerEngine(nlp_engine=nlp_engine, supported_languages=[policy.language])
        if policy.phone_regions:
            from presidio_analyzer.predefined_recognizers import PhoneRecognizer

            self._engine.registry.remove_recognizer("PhoneRecognizer")
            self._engine.registry.add_recognizer(
                PhoneRecognizer(
                    supported_regions=list(policy.phone_regions), supported_language=policy.language
                )
            )
        for rule in policy.patterns:
            self._engine.registry.add_recognizer(
                PatternRecognizer(
                    supported_entity=rule.entity,
                    name=rule.name,
                    patterns=[Pattern(name=rule.name, regex=rule.regex, score=rule.score)],
                    context=list(rule.context),
                    supported_language=policy.language,
                )
            )
        self._lexicon = NameLexicon(policy.names)
        self._names = NameDetector(policy.names, self._lexicon)
        self._numbers = NumberDetector(policy.numbers)
        self._dialogue = DialogueDetector(policy.dialogue, policy.names.fillers)
        self._fields = FieldDetector(policy.fields)
        self._label = re.compile(policy.speaker_label)
        self._allow = frozenset(term.lower() for term in policy.allow_list)
        self._tenant_allow = {
            tenant: frozenset(term.lower() for term in terms)
            for tenant, terms in policy.tenant_allow_lists.items()
        }
        self._generic = frozenset({policy.numbers.entity})
        self._replacer = spans.Replacer(policy.replacement)
        self._entities = frozenset(policy.entities)
        # Presidio is asked only for the entities it has recognizers for (the layers do the rest)
        supported = set(self._engine.get_supported_entities(policy.language))
        self._presidio_entities = [e for e in policy.entities if e in supported]
        self._detector_version = (
            f"presidio-analyzer {_version('presidio_analyzer')}; "
            f"{policy.spacy_model} {_version(policy.spacy_model.replace('_', '-'))} [{pipes}]; "
            f"phone regions {','.join(policy.phone_regions) or 'default'}; "
            f"names {_version('names')}; wordfreq {_version('wordfreq')}"
        )

    @staticmethod
    def _trim_pipeline(nlp_engine: Any, policy: RedactionPolicyDoc) -> str:
        """Keep only the spaCy components the policy asks for; returns them for the detector id."""
        nlp = nlp_engine.nlp[policy.language]
        # NER labels that map to no redacted entity (CARDINAL, ORG, DATE ...) are dropped early
        ner_config = nlp_engine.ner_model_configuration
        mapping = ner_config.model_to_presidio_entity_mapping or {}
        labels = nlp.get_pipe("ner").labels if "ner" in nlp.pipe_names else ()
        ner_config.labels_to_ignore = sorted(x for x in labels if mapping.get(x) not in policy.entities)
        if policy.spacy_pipes:
            missing = set(policy.spacy_pipes) - set(nlp.pipe_names)
            if missing:
                raise PolicyFileError(f"spacy_pipes not in {policy.spacy_model}: {sorted(missing)}")
            for name in [n for n in nlp.pipe_names if n not in policy.spacy_pipes]:
                nlp.remove_pipe(name)
            if "lemmatizer" not in nlp.pipe_names:
                _register_lower_lemma()
                nlp.add_pipe(LOWER_LEMMA, last=True)
        return ",".join(nlp.pipe_names)

    @classmethod
    def from_file(cls, path: Path | None = None) -> PresidioRedactor:
        return cls(load_redaction_policy(path))

    @property
    def policy_version(self) -> str:
        return self._policy.version

    @property
    def detector_version(self) -> str:
        return self._detector_version

    def redact(self, text: str, *, known: Sequence[str] = (), tenant: str = "") -> Redaction:
        return self.redact_many([(text, known)], tenant=tenant)[0]

    def redact_many(self, items: Sequence[tuple[str, Sequence[str]]], *, tenant: str = "") -> list[Redaction]:
        policy = self._policy
        allow = self._allow | self._tenant_allow.get(tenant, frozenset())
        shaped = [(text, split_lines(text, self._label)) for text, _ in items]
        # NER reads a truecased copy (same offsets): lower-case chat names look like names
        nlp_input = [self._names.truecase(text, lines) for text, lines in shaped if text]
        artifacts = iter(
            [a for _, a in self._engine.nlp_engine.process_batch(nlp_input, policy.language, batch_size=32)]
            if nlp_input
            else []
        )
        return [
            self._analyze(text, lines, known, next(artifacts), allow) if text else self._empty(text)
            for (text, lines), (_, known) in zip(shaped, items, strict=True)
        ]

    def _empty(self, text: str) -> Redaction:
        return Redaction(
            text=text, spans=(), policy_version=self._policy.version, detector_version=self._detector_version
        )

    def _presidio(self, text: str, nlp_artifacts: Any) -> list[Candidate]:
        policy = self._policy
        results = self._engine.analyze(
            text=text,
            language=policy.language,
            entities=self._presidio_entities,
            nlp_artifacts=nlp_artifacts,
        )
        out: list[Candidate] = []
        for r in results:
            if r.entity_type not in policy.entities or r.score < policy.threshold(r.entity_type):
                continue
            detector = (r.recognition_metadata or {}).get("recognizer_name", "presidio")
            if detector == "SpacyRecognizer":  # an entity never runs on into the next line
                newline = text.find("\n", r.start, r.end)
                r.end = r.end if newline < 0 else newline
                if r.end <= r.start:
                    continue
            if (
                r.entity_type == policy.names.entity
                and detector == "SpacyRecognizer"
                and not self._plausible_person(text, r.start, r.end)
            ):
                continue
            out.append(Candidate(r.start, r.end, r.entity_type, float(r.score), detector))
        return out

    def _plausible_person(self, text: str, start: int, end: int) -> bool:
        """NER calls "Hi there", "Good morning", "Gmail" and "Ambient Mode" persons: a span made
        only of common English words, none of them a given name, is not one; nor is a span with
        a company word in or after it ("Maple Grove Schools")."""
        value = text[start:end]
        if any(c.isdigit() or c in "._/@" for c in value):  # "A1", "folder.getName"
            return False
        words = [w.lower() for w in WORD.findall(text, start, end)]
        lex = self._lexicon
        if not any(lex.is_first(w) or not lex.is_common(w) for w in words):
            return False
        # one word the web knows well and no census lists, alone or among everyday words, is a
        # product or a UI label, not a person ("Firefox", "Tap Reset")
        rare = [w for w in words if not lex.is_common(w)]
        if len(rare) == 1 and not lex.is_census(rare[0]) and zipf(rare[0]) >= PRODUCT_MIN_ZIPF:
            return False
        return not self._names.looks_like_org(text, start, end)

    def _analyze(
        self, text: str, lines: list[Line], known: Sequence[str], nlp_artifacts: Any, allow: frozenset[str]
    ) -> Redaction:
        policy = self._policy
        candidates = self._presidio(text, nlp_artifacts)
        candidates += KnownIdentifiers(known, policy.known_contacts).detect(text)
        candidates += self._dialogue.detect(text, lines)
        candidates += self._fields.detect(text, lines)
        candidates += self._numbers.detect(text, lines)
        candidates += self._names.detect(text, lines)
        candidates = [c for c in candidates if c.entity in self._entities]
        candidates += self._names.spread(text, lines, candidates)
        kept = spans.allowed(text, spans.clip(text, candidates, label_spans(lines)), allow)
        redacted, result = self._replacer.apply(text, spans.merge(kept, self._generic))
        return Redaction(
            text=redacted,
            spans=result,
            policy_version=policy.version,
            detector_version=self._detector_version,
        )
