"""cfn-lint over every synthesized template: no error, and no warning without a reason."""

from __future__ import annotations

import pytest

from infra.cfn_lint_acks import acknowledged
from tests.infra.conftest import Synth

pytestmark = pytest.mark.synth


@pytest.fixture(scope="module")
def lint_matches(synth: Synth) -> list[tuple[str, str, str]]:
    from cfnlint.api import lint_file
    from cfnlint.config import ManualArgs

    found = []
    for template in sorted(synth.outdir.glob("*.template.json")):
        for match in lint_file(template, ManualArgs(regions=["us-east-1"])):
            found.append((template.name, match.rule.id, match.message))
    return found


def test_cfn_lint_reports_no_error(lint_matches: list[tuple[str, str, str]]) -> None:
    errors = [m for m in lint_matches if m[1].startswith("E")]
    assert errors == []


def test_every_cfn_lint_warning_is_acknowledged_with_a_reason(
    lint_matches: list[tuple[str, str, str]],
) -> None:
    unacknowledged = [m for m in lint_matches if acknowledged(m[1], m[2]) is None]
    assert unacknowledged == []


def test_a_deprecated_engine_version_would_not_be_acknowledged() -> None:
    # What issue 14 found: RDS PostgreSQL 16.4 can no longer be created (W3691).
    message = "Engine version '16.4' for engine 'postgres' is deprecated"
    assert acknowledged("W3691", message) is None


def test_postgres_is_on_a_current_minor(synth: Synth) -> None:
    for stage in ("dev", "prod"):
        (db,) = synth.resources(stage, "Data", "AWS::RDS::DBInstance").values()
        major, minor = db["Properties"]["EngineVersion"].split(".")
        assert major == "16" and int(minor) >= 9
