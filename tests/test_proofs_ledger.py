"""The claims ledger: statuses equal the committed expectation, docs/claims.md is
regenerated output, every REFUTED row ships a case file, and `coherence prove`
fails on a status change."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from coherence.cli import main
from coherence.proofs import report
from coherence.proofs.ledger import STATUSES, Entry, run_ledger

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module")
def entries() -> list[Entry]:
    return run_ledger()


def test_statuses_equal_committed_expectation(entries: list[Entry]) -> None:
    expected = report.load_expected()
    assert report.differences(entries, expected, complete=True) == []
    assert all(e.status in STATUSES for e in entries)


def test_every_spec_claim_has_a_status(entries: list[Entry]) -> None:
    assert {e.check.claim for e in entries} == set(range(1, 20))


def test_issue_expectations(entries: list[Entry]) -> None:
    got = {e.key: e.status for e in entries}
    assert got["10"] == "PROVED"
    assert got["11/stochastic"] == "REFUTED"
    assert got["12"] == "REFUTED"
    assert (got["14/deterministic"], got["14/stochastic"]) == ("PROVED", "REFUTED")
    assert got["15/literal-nonuniform"] == "REFUTED"
    assert got["16/stochastic"] == "REFUTED"
    assert (got["18/deterministic"], got["18/stochastic"]) == ("PROVED", "REFUTED")


def test_refuted_rows_ship_a_case_and_relation(entries: list[Entry]) -> None:
    for e in entries:
        if e.status == "REFUTED":
            assert e.outcome.case is not None, e.key
            assert (ROOT / e.outcome.case).is_file(), e.key
            assert e.outcome.relation, e.key
        if e.status == "UNKNOWN":
            assert e.outcome.evidence, e.key


def test_docs_claims_md_is_up_to_date(entries: list[Entry]) -> None:
    committed = (ROOT / "docs" / "claims.md").read_text(encoding="utf-8")
    assert committed == report.render_markdown(entries), (
        "docs/claims.md is stale: run `coherence prove --out docs/claims.md`"
    )


def test_json_keys_by_claim_and_scope(entries: list[Entry]) -> None:
    data = json.loads(report.render_json(entries))
    assert data["10"]["status"] == "PROVED"
    assert data["14"]["scopes"]["stochastic"]["status"] == "REFUTED"
    assert set(data) == {str(n) for n in range(1, 20)}


def test_prove_exits_non_zero_on_a_status_change(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["prove", "--only", "12"]) == 0
    wrong = tmp_path / "expected.json"
    wrong.write_text(json.dumps({"12": "PROVED"}), encoding="utf-8")
    monkeypatch.setattr(report, "EXPECTED_PATH", wrong)
    assert main(["prove", "--only", "12"]) == 1
    assert "12: expected PROVED, got REFUTED" in capsys.readouterr().err
