"""Knowledge-base retrieval: quality on labelled phone questions, and query latency at 1,000 documents.

Run from the repository root:

    .venv/bin/python bench/knowledge_eval.py            # SQLite in memory (nothing to set up)
    .venv/bin/python bench/knowledge_eval.py --database-url postgres://postgres@127.0.0.1:5432/kb_bench

1. Each business of bench/data/knowledge_eval.json becomes one corpus, uploaded and ingested
   through the real services; every question is asked through ``knowledge_search``. Prints
   recall@1, recall@3 and MRR (overall and per business) and the questions missed at 3.
2. Latency: one corpus of 1,000 documents (the 47 real ones plus synthetic help pages of other
   businesses, written from the same business vocabulary so posting lists are realistically long),
   the same questions asked warm (index cached, as during calls) and the index's cold build time.
   Recall@3 on that corpus shows how ranking holds up with ~20x more distractors.

The database given is only written inside a tenant the run creates and deletes at the end.
"""

from __future__ import annotations

import argparse
import os
import random
import sys
import tempfile
import time
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from agents.knowledge.evaluation import EvalReport

ROOT = Path(__file__).resolve().parent.parent
DATA = ROOT / "bench" / "data" / "knowledge_eval.json"
CORPUS_SIZE = 1000

BUSINESS_KINDS = [
    ("Hair Studio", ["haircut", "color", "highlights", "blow dry", "beard trim"]),
    ("Yoga Loft", ["drop-in class", "monthly membership", "private session", "workshop", "mat rental"]),
    ("Physio Clinic", ["assessment", "massage", "dry needling", "sports taping", "rehab session"]),
    ("Bakery", ["sourdough loaf", "birthday cake", "croissant", "catering tray", "gluten-free bread"]),
    ("Law Office", ["consultation", "will preparation", "closing", "contract review", "notary service"]),
    ("Moving Company", ["local move", "packing service", "storage unit", "piano move", "truck rental"]),
    ("Dry Cleaner", ["suit cleaning", "alterations", "wedding dress", "shirt laundry", "leather care"]),
    ("Pet Groomer", ["bath", "full groom", "nail trim", "teeth brushing", "de-shedding"]),
    ("Optometrist", ["eye exam", "contact lens fitting", "glasses", "kids eye exam", "lens repair"]),
    ("Electrician", ["panel upgrade", "outlet repair", "EV charger install", "lighting", "inspection"]),
    ("Tutoring Center", ["math tutoring", "SAT prep", "reading program", "homework club", "assessment"]),
    ("Car Wash", ["basic wash", "interior detail", "ceramic coating", "monthly pass", "hand wax"]),
    ("Florist", ["bouquet", "wedding flowers", "funeral arrangement", "delivery", "plant care"]),
    ("Chiropractor", ["adjustment", "first visit", "massage", "x-ray", "posture program"]),
    (
        "HVAC Service",
        ["furnace repair", "AC tune-up", "duct cleaning", "thermostat install", "maintenance plan"],
    ),
    ("Daycare", ["full-time care", "part-time care", "after-school program", "summer camp", "meal plan"]),
]
DAYS = ["Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday", "Sunday"]
SECTION_TEMPLATES = [
    (
        "Hours",
        "We are open {d1} to {d2} from {h1} am to {h2} pm. On {d3} we open at {h3} am and close at {h4} pm. "
        "We are closed on {d4} and on public holidays. Holiday hours are posted on our website a week ahead.",
    ),
    (
        "Prices",
        "A {s1} costs ${p1} and a {s2} is ${p2}. Packages of five {s3} sessions cost ${p3}. Prices include "
        "tax. We give a written quote for anything over ${p4} and the quote is free.",
    ),
    (
        "Booking and appointments",
        "Book an appointment by phone or online. We hold a {s1} slot for {m1} minutes. Walk-ins are welcome "
        "when we have availability, but booking ahead is best on {d1} and {d2}.",
    ),
    (
        "Cancellation policy",
        "Please cancel or reschedule at least {n1} hours ahead. Late cancellations and no-shows are "
        "charged a ${p1} fee. If you are more than {m1} minutes late we may need to reschedule your {s1}.",
    ),
    (
        "Payment",
        "We accept cash, debit and all major credit cards. Gift cards are sold in any amount from ${p1}. "
        "Members get {n1}% off every {s1}. Payment is due at the end of the visit.",
    ),
    (
        "Location and parking",
        "You can find us at {n2} {street} Street, next to the {landmark}. Free parking is behind the "
        "building and the number {n1} bus stops in front.",
    ),
    (
        "Frequently asked questions",
        "Do you offer a {s1} for children? Yes, children under {n1} get ${p1} off. Can I bring a friend? "
        "Yes, a friend can join any {s2} for ${p2}. Do you sell gift cards? Yes, at the front desk.",
    ),
    (
        "About us",
        "Our {kind} opened in {year} and has a team of {n1} people. We are known for our {s1} and our "
        "{s2}, and we support local charities every {d1}.",
    ),
]
STREETS = ["Oak", "Pine", "Cedar", "Main", "Elm", "Lake", "Hill", "River", "Park", "Maple", "Birch"]
LANDMARKS = ["post office", "bank", "grocery store", "library", "fire station", "park", "cinema"]


def synthetic_document(rng: random.Random, index: int) -> tuple[str, str]:
    kind, services = rng.choice(BUSINESS_KINDS)
    town = rng.choice(STREETS) + rng.choice(["ville", "ton", " Springs", " Falls", "field"])
    title = f"{town} {kind} - page {index}"
    lines = [f"# {town} {kind}", ""]
    for heading, template in rng.sample(SECTION_TEMPLATES, k=rng.randint(4, 6)):
        values = {
            "d1": rng.choice(DAYS), "d2": rng.choice(DAYS), "d3": rng.choice(DAYS), "d4": rng.choice(DAYS),
            "h1": rng.randint(6, 10), "h2": rng.randint(4, 9), "h3": rng.randint(7, 11),
            "h4": rng.randint(1, 6),
            "s1": rng.choice(services), "s2": rng.choice(services), "s3": rng.choice(services),
            "p1": rng.randint(10, 400), "p2": rng.randint(10, 400), "p3": rng.randint(100, 900),
            "p4": rng.randint(100, 2000), "m1": rng.choice([15, 30, 45, 60, 90]), "n1": rng.randint(2, 48),
            "n2": rng.randint(10, 9999), "street": rng.choice(STREETS), "landmark": rng.choice(LANDMARKS),
            "kind": kind.lower(), "year": rng.randint(1960, 2023),
        }  # fmt: skip
        lines += [f"## {heading}", "", template.format(**values), ""]
    return title, "\n".join(lines)


def _setup_django(database_url: str | None) -> None:
    os.environ.setdefault("DEBUG", "true")
    os.environ["DATABASE_URL"] = database_url or "sqlite:///:memory:"
    os.environ.pop("REDIS_URL", None)  # Celery eager, in-process: the bench needs no broker
    os.environ["MEDIA_ROOT"] = tempfile.mkdtemp(prefix="knowledge-bench-")
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "voxsaas.settings")
    os.environ.setdefault("LOG_LEVEL", "WARNING")
    sys.path.insert(0, str(ROOT))
    import django
    from django.core.management import call_command

    django.setup()
    call_command("migrate", verbosity=0, interactive=False)


def _print_report(title: str, report: EvalReport, per_business: bool, show_misses: bool = True) -> None:
    print(f"\n== {title}: {len(report.results)} questions")
    rows = [("all", report)] + [(f"split {s}", report.only(split=s)) for s in ("dev", "heldout")]
    if per_business:
        businesses = dict.fromkeys(r.question.business for r in report.results)
        rows += [(f"  {key}", report.only(business=key)) for key in businesses]
    for label, part in rows:
        if part.results:
            print(f"{label:<14} n={len(part.results):<4} recall@1 {part.recall_at(1):.3f}  "
                  f"recall@3 {part.recall_at(3):.3f}  MRR {part.mrr:.3f}")  # fmt: skip
    misses = report.misses(3)
    print(f"missed at 3: {len(misses)}")
    if show_misses:
        for miss in misses:
            q = miss.question
            got = list(miss.top_titles)
            print(f"  - [{q.split}] {q.question!r} (want {q.document_id}, rank {miss.rank}) got {got}")


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--database-url", help="a database to run in (default: SQLite in memory)")
    parser.add_argument("--repeat", type=int, default=5, help="passes over the questions for latency")
    args = parser.parse_args()
    _setup_django(args.database_url)

    from agents.knowledge.evaluation import EvalReport, EvalSet, evaluate, ingest_business, ingest_file
    from agents.knowledge.index import corpus_index_cache
    from agents.knowledge.retrieval import knowledge_search
    from agents.knowledge.services import corpus_create
    from tenants.models import Tenant
    from tenants.services import tenant_create

    eval_set = EvalSet.load(DATA)
    eval_set.check_labels()
    tenant = tenant_create(slug=f"kb-bench-{os.getpid()}", name="Knowledge bench")
    try:
        started = time.perf_counter()
        corpora = {b.key: ingest_business(tenant=tenant, business=b) for b in eval_set.businesses}
        print(f"eval set: {eval_set.documents} documents, {eval_set.questions} questions, "
              f"{len(corpora)} corpora; ingested in {time.perf_counter() - started:.1f} s")  # fmt: skip
        _print_report(
            "one corpus per business", evaluate(tenant=tenant, eval_set=eval_set, corpora=corpora), True
        )

        big = corpus_create(tenant=tenant, name="1,000 documents")
        started = time.perf_counter()
        for business in eval_set.businesses:
            for document in business.documents:
                ingest_file(
                    tenant=tenant,
                    corpus=big,
                    filename=document.filename,
                    title=document.title,
                    text=document.text,
                )
        rng = random.Random(20261122)
        for index in range(CORPUS_SIZE - eval_set.documents):
            title, text = synthetic_document(rng, index)
            ingest_file(tenant=tenant, corpus=big, filename=f"synthetic-{index}.md", title=title, text=text)
        ingest_s = time.perf_counter() - started
        big.refresh_from_db()
        chunks = big.chunks.count()
        print(f"\n1,000-document corpus: {chunks} chunks, ingested in {ingest_s:.1f} s "
              f"({ingest_s * 1000 / CORPUS_SIZE:.1f} ms per document)")  # fmt: skip

        corpus_index_cache.clear()
        started = time.perf_counter()
        knowledge_search(
            tenant=tenant, corpus_ids=[big.public_id], query="are you open on sunday", include_private=True
        )
        cold_ms = (time.perf_counter() - started) * 1000
        print(f"cold first query (index build from the database): {cold_ms:.0f} ms")
        all_in_big = {b.key: big for b in eval_set.businesses}
        report = evaluate(tenant=tenant, eval_set=eval_set, corpora=all_in_big)
        # A stress figure, not the quality figure: with every business in one corpus, "are you open
        # on sunday" has dozens of right answers, and only the labelled business's counts.
        _print_report("stress: all businesses + synthetic pages in one corpus", report, False, False)
        latency = EvalReport()
        for _ in range(args.repeat):
            latency.results += evaluate(tenant=tenant, eval_set=eval_set, corpora=all_in_big).results
        print(f"\nquery latency, warm, {len(latency.results)} queries, top 10 with passages loaded: "
              f"p50 {latency.latency_percentile(50):.2f} ms, p95 {latency.latency_percentile(95):.2f} ms, "
              f"max {max(r.latency_ms for r in latency.results):.2f} ms")  # fmt: skip
        print(f"database: {Tenant.objects.db}, {os.environ['DATABASE_URL'].split('://')[0]}")
    finally:
        tenant.delete()


if __name__ == "__main__":
    main()
