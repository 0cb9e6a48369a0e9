"""cfn-lint warnings accepted on purpose, each with its reason (tests/infra/test_cfn_lint.py).

Errors are never accepted. A warning is accepted only if its rule id and the message match an
entry here, so a new kind of warning (a deprecated engine version, say: W3691) fails the
suite until someone fixes it or writes down why it is fine.
"""

from __future__ import annotations

import re
from dataclasses import dataclass


@dataclass(frozen=True)
class LintAck:
    rule: str
    message: re.Pattern[str]
    reason: str

    def covers(self, rule: str, message: str) -> bool:
        return rule == self.rule and bool(self.message.search(message))


ACKNOWLEDGED: tuple[LintAck, ...] = (
    LintAck(
        "W3005",
        re.compile(
            r"^'(\w*ServiceRole\w*|\w*ProviderRole\w*|SageMakerRole\w*|HttpDomain\w*)' "
            r"dependency already enforced"
        ),
        "Redundant DependsOn written by CDK itself: L2 functions depend on their service "
        "role (and its policy, which is the ordering that matters), HTTP API stages on their "
        "domain, SageMaker models on their role subtree so its default policy exists before "
        "the model is created. CloudFormation accepts it; removing it means escape hatches "
        "on generated resources.",
    ),
)


def acknowledged(rule: str, message: str) -> LintAck | None:
    return next((ack for ack in ACKNOWLEDGED if ack.covers(rule, message)), None)
