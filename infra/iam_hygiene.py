"""Replace wildcard IAM actions that CDK generates with the explicit actions they stand for."""

from __future__ import annotations

import aws_cdk as cdk
import jsii
from aws_cdk import aws_iam as iam
from constructs import IConstruct

# Every action the wildcard matches today, from the service authorization reference.
EXPANSIONS: dict[str, tuple[str, ...]] = {
    # Added by aws_ecs.Cluster to container-instance roles.
    "ecs:Submit*": (
        "ecs:SubmitAttachmentStateChanges",
        "ecs:SubmitContainerStateChange",
        "ecs:SubmitTaskStateChange",
    ),
}


@jsii.implements(cdk.IAspect)
class ExpandWildcardActions:
    """Rewrite matching policies in place; policies without a known wildcard are untouched."""

    def visit(self, node: IConstruct) -> None:
        if not isinstance(node, iam.CfnPolicy):
            return
        document = cdk.Stack.of(node).resolve(node.policy_document)
        statements = document.get("Statement", [])
        changed = False
        for statement in statements:
            actions = statement.get("Action")
            if actions is None:
                continue
            listed = [actions] if isinstance(actions, str) else list(actions)
            expanded: list[str] = []
            for action in listed:
                if action in EXPANSIONS:
                    expanded.extend(EXPANSIONS[action])
                    changed = True
                else:
                    expanded.append(action)
            statement["Action"] = expanded if len(expanded) > 1 else expanded[0]
        if changed:
            node.add_property_override("PolicyDocument", document)
