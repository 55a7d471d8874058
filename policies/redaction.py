"""PII redaction with Presidio, configured from the redaction policy (policies/redaction.yaml).

Runs fully offline: the spaCy model comes from an installed package and tldextract (used by
Presidio's e-mail recognizer) is pinned to its bundled public-suffix snapshot.
Results carry entity types and offsets, never the original values.
"""

from __future__ import annotations

import importlib.metadata
import re
from collections.abc import Sequence
from pathlib import Path
from typing import Any, Protocol

from policies.errors import PolicyFileError
from policies.loader import DEFAULT_POLICY_DIR, load_policy_file
from policies.models import RedactedSpan, Redaction, RedactionPolicyDoc


class Redactor(Protocol):
    @property
    def policy_version(self) -> str: ...

    @property
    def detector_version(self) -> str: ...

    def redact(self, text: str, *, known_names: Sequence[str] = ()) -> Redaction: ...

    def redact_many(self, items: Sequence[tuple[str, Sequence[str]]]) -> list[Redaction]:
        """(text, known names) pairs in, one Redaction each, in order; batched NLP."""
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


def name_variants(names: Sequence[str], min_token_length: int) -> list[str]:
    """Full names plus their individual tokens (first / last names) long enough to be safe."""
    variants: set[str] = set()
    for name in names:
        clean = " ".join(name.split())
        if not clean:
            continue
        variants.add(clean)
        for token in re.split(r"[\s\-']+", clean):
            if len(token) >= min_token_length and token[0].isalpha():
                variants.add(token)
    # longest first so "Maria Gonzalez" wins over "Maria" in the alternation
    return sorted(variants, key=lambda v: (-len(v), v))


def merge_spans(
    candidates: Sequence[tuple[int, int, str, float, str]],
) -> list[tuple[int, int, str, float, str]]:
    """Merge overlapping detections into disjoint spans.

    Overlaps are united (the safer choice: nothing of either detection survives); the merged span
    takes the entity type of the longer (then higher-scoring) detection, so an e-mail address that
    contains a known first name stays an EMAIL_ADDRESS.
    """
    ordered = sorted(candidates, key=lambda c: (c[0], -c[1]))
    merged: list[tuple[int, int, str, float, str]] = []
    for start, end, entity, score, detector in ordered:
        if merged and start < merged[-1][1]:
            p_start, p_end, p_entity, p_score, p_detector = merged[-1]
            keep_new = (end - start, score) > (p_end - p_start, p_score)
            merged[-1] = (
                p_start,
                max(p_end, end),
                entity if keep_new else p_entity,
                max(score, p_score),
                detector if keep_new else p_detector,
            )
        else:
            merged.append((start, end, entity, score, detector))
    return merged


def apply_spans(
    text: str, spans: Sequence[tuple[int, int, str, float, str]], replacement: str
) -> tuple[str, tuple[RedactedSpan, ...]]:
    out: list[str] = []
    result: list[RedactedSpan] = []
    cursor = 0
    length = 0
    for start, end, entity, score, detector in spans:
        out.append(text[cursor:start])
        length += start - cursor
        marker = replacement.format(entity=entity)
        out.append(marker)
        result.append(
            RedactedSpan(
                entity_type=entity,
                start=start,
                end=end,
                out_start=length,
                out_end=length + len(marker),
                score=round(score, 3),
                detector=detector,
            )
        )
        length += len(marker)
        cursor = end
    out.append(text[cursor:])
    return "".join(out), tuple(result)


class PresidioRedactor:
    """Presidio AnalyzerEngine + policy-defined pattern recognizers + known-contacts deny list."""

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
        self._pattern_recognizer_cls = PatternRecognizer
        self._detector_version = (
            f"presidio-analyzer {_version('presidio_analyzer')}; "
            f"{policy.spacy_model} {_version(policy.spacy_model.replace('_', '-'))} [{pipes}]; "
            f"phone regions {','.join(policy.phone_regions) or 'default'}"
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

    def _known_contacts_recognizer(self, known_names: Sequence[str]) -> Any:
        rule = self._policy.known_contacts
        variants = name_variants(known_names, rule.min_token_length)
        if not rule.enabled or not variants:
            return None
        return self._pattern_recognizer_cls(
            supported_entity=rule.entity,
            name="known_contacts",
            deny_list=variants,
            deny_list_score=rule.score,
            supported_language=self._policy.language,
        )

    def redact(self, text: str, *, known_names: Sequence[str] = ()) -> Redaction:
        return self.redact_many([(text, known_names)])[0]

    def redact_many(self, items: Sequence[tuple[str, Sequence[str]]]) -> list[Redaction]:
        policy = self._policy
        texts = [text for text, _ in items]
        nonempty = [text for text in texts if text]
        artifacts = iter(
            [a for _, a in self._engine.nlp_engine.process_batch(nonempty, policy.language, batch_size=32)]
            if nonempty
            else []
        )
        return [
            self._analyze(text, names, next(artifacts)) if text else self._empty(text)
            for text, names in items
        ]

    def _empty(self, text: str) -> Redaction:
        return Redaction(
            text=text, spans=(), policy_version=self._policy.version, detector_version=self._detector_version
        )

    def _analyze(self, text: str, known_names: Sequence[str], nlp_artifacts: Any) -> Redaction:
        policy = self._policy
        ad_hoc = self._known_contacts_recognizer(known_names)
        results = self._engine.analyze(
            text=text,
            language=policy.language,
            entities=list(policy.entities),
            ad_hoc_recognizers=[ad_hoc] if ad_hoc is not None else None,
            allow_list=list(policy.allow_list) or None,
            nlp_artifacts=nlp_artifacts,
        )
        candidates = [
            (
                r.start,
                r.end,
                r.entity_type,
                float(r.score),
                (r.recognition_metadata or {}).get("recognizer_name", "presidio"),
            )
            for r in results
            if r.entity_type in policy.entities and r.score >= policy.threshold(r.entity_type)
        ]
        redacted, spans = apply_spans(text, merge_spans(candidates), policy.replacement)
        return Redaction(
            text=redacted, spans=spans, policy_version=policy.version, detector_version=self._detector_version
        )
