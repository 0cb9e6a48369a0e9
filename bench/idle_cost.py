"""Itemized monthly idle cost per stage, read from the synthesized CloudFormation templates.

    python bench/idle_cost.py                # synthesize (no bundling, no nag) and price
    python bench/idle_cost.py cdk.out        # price an existing cloud assembly

"Idle" means deployed with no user traffic: what runs around the clock (database, cache,
NAT, endpoints, WAF, dashboards, alarms, secrets, SnapStart cache, the scheduled health
checker) plus the capacity floors autoscaling keeps (SageMaker minimum instances, or for
inference components the managed-scaling minimum and the copies' floor; ECS service minimum
tasks and the GPU hosts they need). Prices: bench/idle_prices.json (its date
and region are printed). Per-request charges (API Gateway, Lambda per call, tokens) are zero
at idle and left out.
"""

from __future__ import annotations

import json
import re
import sys
import tempfile
from collections import defaultdict
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
PRICES = json.loads((ROOT / "bench" / "idle_prices.json").read_text())
HOURS = PRICES["hours_per_month"]
SECONDS = HOURS * 3600


@dataclass(frozen=True)
class Line:
    item: str
    monthly: float


def _per_month(hourly: float, count: float = 1) -> float:
    return hourly * HOURS * count


def _metrics_in_alarm(props: dict[str, Any]) -> int:
    if "MetricName" in props:
        return 1
    return max(1, sum(1 for q in props.get("Metrics", []) if "MetricStat" in q))


def _scalable_floors(templates: dict[str, dict[str, Any]], pattern: str) -> dict[str, int]:
    """Resource name (the pattern's group) -> MinCapacity of its scalable target."""
    floors: dict[str, int] = {}
    for template in templates.values():
        for res in template["Resources"].values():
            props = res.get("Properties", {})
            if res["Type"] == "AWS::ApplicationAutoScaling::ScalableTarget" and isinstance(
                props.get("ResourceId"), str
            ):
                match = re.match(pattern, props["ResourceId"])
                if match:
                    floors[match.group(1)] = int(props["MinCapacity"])
    return floors


def _endpoint_floor(templates: dict[str, dict[str, Any]]) -> dict[str, int]:
    """SageMaker endpoint name -> minimum instances kept by variant autoscaling."""
    return _scalable_floors(templates, r"endpoint/([^/]+)/variant/")


def _component_copies(res: dict[str, Any], copy_floors: dict[str, int]) -> dict[str, int]:
    """Endpoint logical id -> the fewest copies its inference components keep (each copy is
    assumed to need an instance of its own: one GPU per copy, one GPU per instance)."""
    copies: dict[str, int] = defaultdict(int)
    for component in res.values():
        if component["Type"] != "AWS::SageMaker::InferenceComponent":
            continue
        props = component["Properties"]
        endpoint = props["EndpointName"]
        endpoint_id = endpoint["Fn::GetAtt"][0] if isinstance(endpoint, dict) else endpoint
        name = props.get("InferenceComponentName")
        floor = copy_floors.get(name, props.get("RuntimeConfig", {}).get("CopyCount", 1))
        copies[endpoint_id] += floor
    return copies


def _sagemaker_endpoint(
    res: dict[str, Any],
    logical_id: str,
    floors: dict[str, int],
    copies: dict[str, int],
) -> Iterator[Line]:
    props = res[logical_id]["Properties"]
    config_id = props["EndpointConfigName"]["Fn::GetAtt"][0]
    for variant in res[config_id]["Properties"]["ProductionVariants"]:
        itype = variant["InstanceType"]
        hourly = PRICES["sagemaker_hourly"][itype]
        managed = variant.get("ManagedInstanceScaling") or {}
        if managed.get("Status") == "ENABLED":
            # Inference components: SageMaker keeps MinInstanceCount, or what the copies'
            # autoscaling floor needs, whichever is more; 0 and 0 is asleep.
            count = max(int(managed.get("MinInstanceCount", 1)), copies.get(logical_id, 0))
            asleep = " (scaled to zero)" if count == 0 else ""
            yield Line(
                f"SageMaker {itype} kept at idle: {count}{asleep}", _per_month(hourly, count)
            )
            continue
        count = floors.get(props["EndpointName"], variant.get("InitialInstanceCount", 1))
        yield Line(f"SageMaker {itype} (endpoint minimum instances)", _per_month(hourly, count))


def _ecs_hosts(template: dict[str, Any]) -> Iterator[Line]:
    """GPU hosts kept at idle: the ASG minimum or the tasks the services must keep."""
    res = template["Resources"]
    min_tasks: dict[str, int] = defaultdict(int)  # capacity provider logical id -> tasks
    targets = {
        json.dumps(p["Properties"]["ResourceId"]): int(p["Properties"]["MinCapacity"])
        for p in res.values()
        if p["Type"] == "AWS::ApplicationAutoScaling::ScalableTarget"
        and p["Properties"]["ScalableDimension"] == "ecs:service:DesiredCount"
    }
    for logical_id, service in res.items():
        if service["Type"] != "AWS::ECS::Service":
            continue
        floor = next((v for k, v in targets.items() if logical_id in k), None)
        floor = service["Properties"].get("DesiredCount", 1) if floor is None else floor
        for strategy in service["Properties"].get("CapacityProviderStrategy", []):
            min_tasks[strategy["CapacityProvider"]["Ref"]] += floor
    for cp_id, cp in res.items():
        if cp["Type"] != "AWS::ECS::CapacityProvider":
            continue
        asg = res[cp["Properties"]["AutoScalingGroupProvider"]["AutoScalingGroupArn"]["Ref"]]
        template_id = asg["Properties"]["LaunchTemplate"]["LaunchTemplateId"]["Ref"]
        itype = res[template_id]["Properties"]["LaunchTemplateData"]["InstanceType"]
        hosts = max(int(asg["Properties"]["MinSize"]), min_tasks[cp_id])  # one GPU task per host
        volume = PRICES["assumptions"]["gpu_host_volume_gb"] * PRICES["ebs_gp3_gb_month"]
        asleep = " (scaled to zero)" if hosts == 0 else ""
        yield Line(
            f"{itype} GPU hosts kept at idle: {hosts}{asleep}",
            hosts * (_per_month(PRICES["ec2_hourly"][itype]) + volume),
        )


def _lines(templates: dict[str, dict[str, Any]]) -> Iterator[Line]:
    floors = _endpoint_floor(templates)
    copy_floors = _scalable_floors(templates, r"inference-component/([^/]+)$")
    for template in templates.values():
        yield from _ecs_hosts(template)
        res = template["Resources"]
        copies = _component_copies(res, copy_floors)
        for logical_id, res_entry in res.items():
            kind, props = res_entry["Type"], res_entry.get("Properties", {})
            if kind == "AWS::EC2::Instance":
                itype = props["InstanceType"]
                yield Line(f"EC2 {itype} (NAT instance)", _per_month(PRICES["ec2_hourly"][itype]))
                yield Line("public IPv4 address", _per_month(PRICES["public_ipv4_hourly"]))
            elif kind == "AWS::EC2::NatGateway":
                yield Line("NAT gateway", _per_month(PRICES["nat_gateway_hourly"]))
            elif kind == "AWS::EC2::EIP":
                yield Line("public IPv4 address", _per_month(PRICES["public_ipv4_hourly"]))
            elif kind == "AWS::EC2::VPCEndpoint" and props.get("VpcEndpointType") == "Interface":
                azs = len(props.get("SubnetIds", [])) or 1
                yield Line(
                    "interface endpoints (per AZ)",
                    _per_month(PRICES["interface_endpoint_az_hourly"], azs),
                )
            elif kind == "AWS::RDS::DBInstance":
                copies = 2 if props.get("MultiAZ") else 1
                hourly = PRICES["rds_hourly"][props["DBInstanceClass"]]
                storage = int(props["AllocatedStorage"]) * PRICES["rds_gp3_gb_month"]
                yield Line(f"RDS {props['DBInstanceClass']} x{copies}", _per_month(hourly, copies))
                yield Line("RDS storage", storage * copies)
            elif kind == "AWS::ElastiCache::ReplicationGroup":
                nodes = props.get("NumNodeGroups", 1) * (1 + props.get("ReplicasPerNodeGroup", 0))
                hourly = PRICES["elasticache_hourly"][props["CacheNodeType"]]
                if props.get("Engine") == "valkey":
                    # Valkey nodes are listed 20 % below Redis OSS nodes of the same type.
                    hourly *= 1 - PRICES["elasticache_valkey_discount"]
                yield Line(
                    f"ElastiCache {props.get('Engine', 'redis')} {props['CacheNodeType']} x{nodes}",
                    _per_month(hourly, nodes),
                )
            elif kind == "AWS::WAFv2::WebACL":
                rules = len(props.get("Rules", []))
                yield Line(
                    "WAF web ACL and rules",
                    PRICES["waf_web_acl_month"] + rules * PRICES["waf_rule_month"],
                )
            elif kind == "AWS::CloudWatch::Dashboard":
                yield Line("CloudWatch dashboards", PRICES["cloudwatch_dashboard_month"])
            elif kind == "AWS::CloudWatch::Alarm":
                yield Line(
                    "CloudWatch alarms (per metric)",
                    _metrics_in_alarm(props) * PRICES["cloudwatch_alarm_metric_month"],
                )
            elif kind == "AWS::SecretsManager::Secret":
                yield Line("Secrets Manager secrets", PRICES["secret_month"])
            elif kind == "AWS::Lambda::Function" and props.get("SnapStart"):
                gb = props.get("MemorySize", 128) / 1024
                yield Line(
                    "SnapStart snapshot cache",
                    gb * SECONDS * PRICES["lambda_snapstart_cache_gb_second"],
                )
            elif kind == "AWS::SageMaker::Endpoint":
                yield from _sagemaker_endpoint(res, logical_id, floors, copies)
            elif kind == "AWS::Events::Rule" and "ScheduleExpression" in props:
                yield from _scheduled(res, props)
            elif kind == "AWS::Lambda::EventSourceMapping":
                a = PRICES["assumptions"]
                polls = a["sqs_pollers"] * SECONDS / a["sqs_long_poll_seconds"]
                yield Line("SQS long polling by the usage drainer", polls * PRICES["sqs_request"])
            if kind == "AWS::SSM::Parameter" and props.get("Tier") == "Advanced":
                yield Line("SSM Advanced parameter", PRICES["ssm_advanced_parameter_month"])
            if kind == "AWS::SSM::Parameter" and '"models"' in str(props.get("Value", "")):
                models = len(json.loads(props["Value"])["models"])
                # The health checker files 3 series per model every round, all month.
                yield Line(
                    "custom metrics from the health checker",
                    3 * models * PRICES["cloudwatch_custom_metric_month"],
                )


def _scheduled(res: dict[str, Any], rule: dict[str, Any]) -> Iterator[Line]:
    match = re.match(r"rate\((\d+) minutes?\)", rule["ScheduleExpression"])
    if not match:
        return
    per_month = SECONDS / 60 / int(match.group(1))
    for target in rule.get("Targets", []):
        fn_id = target["Arn"]["Fn::GetAtt"][0]
        gb = res[fn_id]["Properties"].get("MemorySize", 128) / 1024
        seconds = PRICES["assumptions"]["health_check_seconds"]
        cost = per_month * (
            gb * seconds * PRICES["lambda_arm_gb_second"] + PRICES["lambda_request"]
        )
        yield Line("scheduled health checker Lambda", cost)


def itemize(templates: dict[str, dict[str, Any]]) -> list[Line]:
    """Lines of the same item summed, largest first."""
    totals: dict[str, float] = defaultdict(float)
    for line in _lines(templates):
        totals[line.item] += line.monthly
    return sorted((Line(k, v) for k, v in totals.items()), key=lambda x: -x.monthly)


def stage_templates(outdir: Path) -> dict[str, dict[str, dict[str, Any]]]:
    stages: dict[str, dict[str, dict[str, Any]]] = defaultdict(dict)
    for path in sorted(outdir.glob("MotherFluxer-*.template.json")):
        stage = path.name.split("-")[1]
        stages[stage][path.name] = json.loads(path.read_text())
    return dict(stages)


def synthesize(outdir: Path) -> None:
    sys.path[:0] = [str(ROOT / "lambdas"), str(ROOT)]
    import importlib.util

    spec = importlib.util.spec_from_file_location("motherfluxer_cdk_app", ROOT / "app.py")
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    module.build_app(context={"nag": False}, outdir=str(outdir)).synth()


def report(outdir: Path) -> dict[str, float]:
    print(f"Idle cost per month, {PRICES['region']} list prices of {PRICES['date']}")
    totals = {}
    for stage, templates in stage_templates(outdir).items():
        lines = itemize(templates)
        totals[stage] = sum(line.monthly for line in lines)
        print(f"\n{stage}: ${totals[stage]:,.2f} a month")
        for line in lines:
            print(f"  {line.item:<52} {line.monthly:>10,.2f}")
    return totals


def main(argv: list[str]) -> int:
    if argv:
        report(Path(argv[0]))
        return 0
    with tempfile.TemporaryDirectory() as tmp:
        synthesize(Path(tmp))
        report(Path(tmp))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
