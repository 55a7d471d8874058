"""Retrieval quality on the public retrieval-dev sets, through the real pipeline and /query, with the
shipped redaction policy and with redaction off, side by side in one run:

    .venv/bin/python -m bench.retrieval_dev [--limit-queries N] [--sets emanual,stackfaq]

Sets (read in place from ../shared/data/retrieval-dev, see its SOURCES.md):
- emanual: the S10 phone manual, one note per section (title + text lines); gold = the section whose
  title is the last element of `section_path` and whose ancestors (rebuilt from the heading levels)
  fit best, plus sections with near-identical text;
- stackfaq: one note per answer (answer text only); queries = the `rephr` paraphrases (`*`
  placeholders ignored); a hit = any answer of the right thread.

Each configuration gets its own data dir: file drop folder -> contract -> consent -> redaction ->
chunks -> embeddings -> embedded index, then POST /query (TestClient, demo assistant key, top_k 10).
Scores are record level: record ids in rank order, first occurrence kept. Markers = redaction
markers in the stored text (rebuilt from the chunks' offsets) that the source text does not have;
redacted words come from aligning the source text with the stored text.
"""

from __future__ import annotations

import argparse
import csv
import difflib
import functools
import hashlib
import json
import os
import re
import shutil
import subprocess
import tempfile
import time
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from bench.answer_stats import AnswerStats
from bench.stored import chunk_text, stored_texts
from ingest.models import SourceRecord
from policies.models import Redaction

if TYPE_CHECKING:
    from fastapi.testclient import TestClient

    from ingest.config import FileSourceConfig
    from policies.redaction import Redactor

ROOT = Path(__file__).resolve().parents[1]
OWNER = "u-bench"
API_KEY = "demo-assistant-key"
TOP_K = 10
NEAR_IDENTICAL = 0.9  # difflib ratio of two sections' normalized text
MARKER = re.compile(r"<([A-Z][A-Z0-9_]*)>")
PUNCT = " \t\n.,;:!?\"'()[]{}"


def data_root() -> Path:
    default = ROOT.parent / "shared" / "data" / "retrieval-dev"
    return Path(os.environ.get("CRM_RAG_RETRIEVAL_DEV", default))


@dataclass(frozen=True)
class Query:
    text: str
    gold: frozenset[str]
    answer: str = ""  # the set's gold answer text, where it has one (emanual)


@dataclass(frozen=True)
class BenchSet:
    name: str  # also the tenant and the source name
    records: list[dict[str, object]]
    queries: list[Query]


@dataclass
class Result:
    records: int = 0
    chunks: int = 0
    queries: int = 0
    at1: int = 0
    at5: int = 0
    rr: float = 0.0
    markers: int = 0
    seconds: float = 0.0
    words: Counter[tuple[str, str]] = field(default_factory=Counter)
    # per in-set question: (record id, score) best first, and its gold records
    ranked: list[tuple[list[tuple[str, float]], frozenset[str]]] = field(default_factory=list)
    offtopic_top: list[float] = field(default_factory=list)  # best score for another set's questions
    answers: AnswerStats = field(default_factory=AnswerStats)


class IdentityRedactor:
    """Redaction off: the text unchanged, no spans; versions say so."""

    def __init__(self, policy_version: str, detector_version: str) -> None:
        self._policy_version = f"{policy_version}-off"
        self._detector_version = f"{detector_version}-off"

    @property
    def policy_version(self) -> str:
        return self._policy_version

    @property
    def detector_version(self) -> str:
        return self._detector_version

    def redact(self, text: str, *, known: Sequence[str] = (), tenant: str = "") -> Redaction:
        return Redaction(
            text=text, spans=(), policy_version=self._policy_version, detector_version=self._detector_version
        )

    def redact_many(self, items: Sequence[tuple[str, Sequence[str]]], *, tenant: str = "") -> list[Redaction]:
        return [self.redact(text, known=known) for text, known in items]


def _note(set_name: str, record_id: str, title: str, body: str) -> dict[str, object]:
    return {
        "record_id": record_id,
        "record_type": "note",
        "tenant_id": set_name,
        "url": f"https://crm.example/{set_name}/{record_id}",
        "version": "1",
        "updated_at": "2026-11-01T00:00:00+00:00",
        "owner_id": OWNER,
        "title": title,
        "body": body,
        "consent": {"assistant_use": "granted"},
    }


def _normalized(text: str) -> str:
    return " ".join(text.split()).lower()


def _near(a: str, b: str) -> bool:
    m = difflib.SequenceMatcher(None, a, b, autojunk=False)
    return all(r() >= NEAR_IDENTICAL for r in (m.real_quick_ratio, m.quick_ratio, m.ratio))


def load_emanual(root: Path) -> BenchSet:
    corpus: dict[str, dict[str, list[str] | str]] = json.loads(
        (root / "emanual-s10" / "s10_manual_corpus.json").read_text(encoding="utf-8")
    )
    records: list[dict[str, object]] = []
    paths: dict[str, list[str]] = {}  # record id -> titles from the chapter down to the section
    texts: dict[str, str] = {}
    stack: dict[int, str] = {}
    for key, section in corpus.items():
        title, lines, html = str(section["title"]), list(section["text"]), list(section["html"])
        head = re.match(r"\s*<h(\d)", html[0]) if html else None
        level = int(head.group(1)) if head else 9
        stack = {lv: t for lv, t in stack.items() if lv < level} | {level: title}
        rid = f"s10-{key}"
        paths[rid] = [stack[lv] for lv in sorted(stack)]
        body = "\n".join(lines).strip() or title
        texts[rid] = _normalized(f"{title} {body}")
        records.append(_note("emanual", rid, title, body))
    queries: list[Query] = []
    with (root / "emanual-s10" / "s10_50_questions.csv").open(encoding="utf-8", newline="") as fh:
        for row in csv.DictReader(fh):
            *ancestors, last = [p.strip() for p in row["section_path"].split(">")]
            fits = {
                rid: sum(a in path[:-1] for a in ancestors)
                for rid, path in paths.items()
                if path[-1].casefold() == last.casefold()
            }
            if not fits:
                raise ValueError(f"question {row['question_id']}: no section titled {last!r}")
            best = max(fits.values())
            gold = {rid for rid, score in fits.items() if score == best}
            gold |= {rid for g in gold for rid, text in texts.items() if _near(texts[g], text)}
            queries.append(Query(row["question"].strip(), frozenset(gold), row["answer"]))
    return BenchSet("emanual", records, queries)


def load_stackfaq(root: Path) -> BenchSet:
    doc = json.loads((root / "stackfaq" / "stackExchange-FAQ.json").read_text(encoding="utf-8"))
    records: list[dict[str, object]] = []
    queries: list[Query] = []
    for t, thread in enumerate(doc["root"]["qapair"]):
        ids = []
        answers = thread["answer"] if isinstance(thread["answer"], list) else [thread["answer"]]
        for a, answer in enumerate(answers):  # one thread has a single answer as a plain string
            if answer and str(answer).strip():
                ids.append(f"faq-{t:03d}-{a:02d}")
                records.append(_note("stackfaq", ids[-1], "", str(answer).strip()))
        gold = frozenset(ids)
        for raw in thread["rephr"]:
            text = " ".join(str(raw or "").split())
            if text and text != "*" and len(text) >= 3:
                queries.append(Query(text, gold))
    return BenchSet("stackfaq", records, queries)


LOADERS = {"emanual": load_emanual, "stackfaq": load_stackfaq}


def spread(items: list[Query], limit: int | None) -> list[Query]:
    """`limit` queries spread evenly over the set (every thread / chapter), or all."""
    if not limit or len(items) <= limit:
        return items
    step = len(items) / limit
    return [items[int(i * step)] for i in range(limit)]


def _words_aligned(source: str, stored: str) -> list[tuple[str, str]]:
    """Fallback: align words, then read each marker's words out of its differing stretch."""
    src, out = source.split(), stored.split()
    found: list[tuple[str, str]] = []
    matcher = difflib.SequenceMatcher(None, src, out, autojunk=False)
    for op, i1, i2, j1, j2 in matcher.get_opcodes():
        out_seg = " ".join(out[j1:j2])
        if op != "equal" and MARKER.search(out_seg):
            found += _line_aligned(" ".join(src[i1:i2]), out_seg) or [
                (MARKER.findall(out_seg)[0], " ".join(src[i1:i2]).strip(PUNCT))
            ]
    return found


def _line_aligned(source: str, stored: str) -> list[tuple[str, str]]:
    """One line: the stored line with each marker as a lazy group must match the source line."""
    pieces = MARKER.split(stored)  # literal, type, literal, type, ..., literal
    pattern = "".join(r"(.+?)" if n % 2 else re.escape(piece) for n, piece in enumerate(pieces))
    hit = re.fullmatch(pattern, source)
    if hit is None:
        return []
    return [(kind, v.strip(PUNCT)) for kind, v in zip(pieces[1::2], hit.groups(), strict=True)]


def redacted_values(source: str, stored: str) -> list[tuple[str, str]]:
    """(entity type, source words) per redaction marker. Redaction replaces spans inside a line
    and keeps the rest, so lines align one to one; word alignment is the fallback."""
    src_lines, out_lines = source.split("\n"), stored.split("\n")
    if len(src_lines) != len(out_lines):
        return _words_aligned(source, stored)
    found: list[tuple[str, str]] = []
    for src, out in zip(src_lines, out_lines, strict=True):
        if src != out and MARKER.search(out):
            found += _line_aligned(src, out) or _words_aligned(src, out)
    return found


def source_texts(bench: BenchSet) -> dict[str, str]:
    from ingest.stages.contract import validate_record
    from ingest.stages.render import render_text

    out: dict[str, str] = {}
    for raw in bench.records:
        record = validate_record(raw, tenant_id=bench.name, source=bench.name, system="file", locator="-")
        if not isinstance(record, SourceRecord):
            raise ValueError(f"{bench.name} record {raw['record_id']} fails the contract: {record.reason}")
        out[record.record_id] = render_text(record)
    return out


def gold_rank(ranked: Sequence[str], gold: frozenset[str]) -> int:
    """1-based rank of the first gold record; 0 when none is ranked."""
    return next((n for n, rid in enumerate(ranked, start=1) if rid in gold), 0)


def post_query(client: TestClient, question: str, tenant: str, purpose: str, **extra: Any) -> dict[str, Any]:
    """POST /query as the bench's assistant (owner OWNER, top_k TOP_K); the JSON answer."""
    body = {
        "question": question,
        "tenant_id": tenant,
        "purpose": purpose,
        "user": {"user_id": OWNER, "team_ids": []},
        "top_k": TOP_K,
        **extra,
    }
    resp = client.post("/query", json=body, headers={"X-API-Key": API_KEY})
    if resp.status_code != 200:
        raise RuntimeError(f"/query {resp.status_code}: {resp.text[:300]}")
    data: dict[str, Any] = resp.json()
    return data


def score(ranked: Sequence[str], gold: frozenset[str], result: Result) -> None:
    rank = gold_rank(ranked, gold)
    result.queries += 1
    result.at1 += rank == 1
    result.at5 += 0 < rank <= 5
    result.rr += 1 / rank if rank else 0.0


def drop_sources(sets: Sequence[BenchSet], root: Path) -> list[FileSourceConfig]:
    """One file source (drop folder) per set, its name and tenant the set's name."""
    from ingest.config import FileSourceConfig

    sources = []
    for bench in sets:
        drop = root / bench.name
        drop.mkdir(parents=True)
        with (drop / "records.jsonl").open("w", encoding="utf-8") as fh:
            fh.writelines(json.dumps(r) + "\n" for r in bench.records)
        sources.append(
            FileSourceConfig.model_validate(
                {"name": bench.name, "kind": "file", "tenant_id": bench.name, "path": drop, "page_size": 500}
            )
        )
    return sources


def run_config(
    redactor: Redactor, sets: Sequence[BenchSet], tmp: Path, backend: str | None = None
) -> dict[str, Result]:
    """Index every set through the real pipeline into a private data dir and ask /query."""
    from fastapi.testclient import TestClient

    from bench.live import bench_settings
    from policies.models import Admit, ConsentStatus
    from rag_service.app import create_app
    from rag_service.services import build_services

    settings = bench_settings(tmp / "var", drop_sources(sets, tmp / "drop"))
    if backend is not None:
        settings = settings.model_copy(
            update={"embedding": settings.embedding.model_copy(update={"backend": backend})}
        )
    services = build_services(settings, redactor=redactor)
    results: dict[str, Result] = {}
    try:
        decision = services.consent.decide({"assistant_use": ConsentStatus("granted")})
        if not isinstance(decision, Admit):
            raise ValueError("the consent policy does not admit assistant_use records")
        purpose = "support_assistant" if "support_assistant" in decision.purposes else decision.purposes[0]
        app = create_app(settings, services=services, start_scheduler=False)
        with TestClient(app) as client:
            for bench in sets:
                result = results.setdefault(bench.name, Result())
                t0 = time.perf_counter()
                report = services.run(bench.name, actor="bench")
                if report.status != "succeeded":
                    raise RuntimeError(f"{bench.name}: sync {report.status}: {report.error}")
                stored, result.chunks = stored_texts(services.index, bench.name)
                result.records = len(stored)
                for rid, source in source_texts(bench).items():
                    text = stored.get(rid, "")
                    result.markers += max(0, len(MARKER.findall(text)) - len(MARKER.findall(source)))
                    if text != source:
                        result.words.update(redacted_values(source, text))

                stored_text = functools.partial(chunk_text, services.index)

                def ask(question: str, tenant: str) -> dict[str, Any]:
                    # every hit: the threshold sweep below applies its own floor
                    return post_query(client, question, tenant, purpose, min_score=0.0)

                for q in bench.queries:
                    data = ask(q.text, bench.name)
                    hits = [(str(s["record_id"]), float(s["score"])) for s in data["sources"]]
                    result.ranked.append((hits, q.gold))
                    score(list(dict.fromkeys(rid for rid, _ in hits)), q.gold, result)
                    result.answers.add(str(data["answer"]), [rid for rid, _ in hits], q.gold, q.answer)
                    result.answers.check_spans(data.get("quotes", []), data["sources"], stored_text)
                # the other sets' questions are off-topic here
                others = [q for other in sets if other.name != bench.name for q in other.queries]
                for q in spread(others, OFFTOPIC_PER_SET):
                    sources = ask(q.text, bench.name)["sources"]
                    # the best cosine, as answer() decides (hybrid order is not cosine order)
                    result.offtopic_top.append(max((float(s["score"]) for s in sources), default=0.0))
                result.seconds = time.perf_counter() - t0
    finally:
        services.close()
    return results


OFFTOPIC_PER_SET = 200
THRESHOLDS = (0.0, 0.1, 0.15, 0.2, 0.25, 0.3, 0.35, 0.4)


def threshold_table(results: dict[str, Result]) -> str:
    """Per minimum score: R@5 and MRR when hits under it are dropped, and the share of off-topic
    questions (another set's) that get no answer at all."""
    lines = ["| set | min_score | R@5 | MRR | off-topic questions with no answer |", "|---|---|---|---|---|"]
    for name, result in results.items():
        for t in THRESHOLDS:
            probe = Result()
            for hits, gold in result.ranked:
                kept = [rid for rid, s in hits if s >= t]
                score(list(dict.fromkeys(kept)), gold, probe)
            n = max(1, probe.queries)
            refused = sum(top < t for top in result.offtopic_top) / max(1, len(result.offtopic_top))
            lines.append(f"| {name} | {t:.2f} | {probe.at5 / n:.3f} | {probe.rr / n:.3f} | {refused:.1%} |")
    return "\n".join(lines)


def table(results: dict[str, dict[str, Result]], sets: Sequence[BenchSet]) -> str:
    lines = [
        "| set | redaction | records indexed | chunks | queries | R@1 | R@5 | MRR | markers | seconds |",
        "|---|---|---|---|---|---|---|---|---|---|",
    ]
    for bench in sets:
        for config, per_set in results.items():
            r = per_set[bench.name]
            n = r.queries or 1
            lines.append(
                f"| {bench.name} | {config} | {r.records} of {len(bench.records)} | {r.chunks} | {r.queries} "
                f"| {r.at1 / n:.3f} | {r.at5 / n:.3f} | {r.rr / n:.3f} | {r.markers} | {r.seconds:.0f} |"
            )
    lines += [
        "",
        "Answers (top_k 10, every hit a source): the answer cites a gold record; the same when a gold "
        "record is in the top 5 / ranked first; share of the gold answer's content words quoted; "
        "quotes that cite a retrieved chunk with offsets that round-trip to its stored text:",
        "",
        "| set | redaction | cites gold | cites gold, gold in top 5 | cites gold, gold first "
        "| gold answer words quoted | quotes round-trip |",
        "|---|---|---|---|---|---|---|",
    ]
    for bench in sets:
        for config, per_set in results.items():
            lines.append(f"| {bench.name} | {config} {per_set[bench.name].answers.row()}")
    for config, per_set in results.items():
        for bench in sets:
            r = per_set[bench.name]
            top = r.words.most_common(10)
            aligned = sum(r.words.values())
            lines += [
                "",
                f"Most often redacted words, {bench.name}, {config} ({aligned} of {r.markers} markers):",
            ]
            if not top:
                lines.append("(none)")
                continue
            lines += ["", "| word | entity | count |", "|---|---|---|"]
            lines += [f"| {word} | {kind} | {count} |" for (kind, word), count in top]
    return "\n".join(lines)


def policies_fingerprint() -> str:
    """The redaction code and policy files this run loaded (the working tree may be mid-edit)."""
    digest = hashlib.sha256()
    for path in sorted((ROOT / "policies").rglob("*")):
        if path.suffix in {".py", ".yaml"}:
            digest.update(f"{path.relative_to(ROOT)}\0".encode() + path.read_bytes())
    head = subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=ROOT, capture_output=True, text=True)
    return f"HEAD {head.stdout.strip() or '?'}, policies/ sha256 {digest.hexdigest()[:12]}"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    parser.add_argument("--limit-queries", type=int, default=None, help="queries per set (default: all)")
    parser.add_argument("--sets", default=",".join(LOADERS), help="comma-separated: emanual,stackfaq")
    parser.add_argument(
        "--backend", default=None, choices=["onnx", "onnx-int8", "torch"], help="embedding backend"
    )
    parser.add_argument("--no-off", action="store_true", help="skip the redaction-off run")
    args = parser.parse_args()
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
    from policies.redaction import PresidioRedactor

    names = [s.strip() for s in args.sets.split(",") if s.strip()]
    unknown = set(names) - set(LOADERS)
    if unknown:
        parser.error(f"unknown sets {sorted(unknown)}; known: {', '.join(LOADERS)}")
    started = time.perf_counter()
    sets = []
    for name in names:
        bench = LOADERS[name](data_root())
        sets.append(BenchSet(bench.name, bench.records, spread(bench.queries, args.limit_queries)))
    fingerprint = policies_fingerprint()
    shipped = PresidioRedactor.from_file()
    configs: list[tuple[str, Redactor]] = [(f"shipped ({shipped.policy_version})", shipped)]
    if not args.no_off:
        configs.append(("off", IdentityRedactor(shipped.policy_version, shipped.detector_version)))
    results: dict[str, dict[str, Result]] = {}
    for label, redactor in configs:
        tmp = Path(tempfile.mkdtemp(prefix="crm-retrieval-dev-"))
        try:
            results[label] = run_config(redactor, sets, tmp, args.backend)
        finally:
            shutil.rmtree(tmp, ignore_errors=True)
        print(f"{label}: done after {time.perf_counter() - started:.0f} s", flush=True)
    print(table(results, sets))
    print("\nRelevance threshold (shipped redaction; off-topic = the other sets' questions):\n")
    print(threshold_table(results[configs[0][0]]))
    print(f"\nshipped redactor: {shipped.detector_version}; {fingerprint}")
    print(f"wall time {time.perf_counter() - started:.0f} s")


if __name__ == "__main__":
    main()
