"""Typed stage configuration read from `cdk.json` context.

`app.py` builds one `AppConfig` from the `stages` context and hands each stack its `StageConfig`;
constructs never read the environment or the context themselves. Validation errors are turned
into one line per problem that names the field (`stages.dev.models[1].hosting.instance_type`).
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from routing.catalog import Catalog, ModelSpec

_SAGEMAKER_TYPE = re.compile(r"^ml\.[a-z0-9]+\.[a-z0-9]+$")
_EC2_TYPE = re.compile(r"^[a-z][a-z0-9-]*\.[a-z0-9]+$")
# Instance families with NVIDIA GPUs that the model container can use.
_GPU_FAMILIES = ("g4dn", "g5", "g6", "g6e", "gr6", "p3", "p4d", "p4de", "p5", "p5e")


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


def _family(instance_type: str) -> str:
    parts = instance_type.split(".")
    return parts[1] if parts[0] == "ml" else parts[0]


class SageMakerHosting(_Strict):
    """A SageMaker endpoint per model version hosting one inference component, whose copies
    autoscale on concurrent requests; with `min` 0 the copies and the instances behind them
    go to zero while unused and a request wakes them (infra/sagemaker_components.py)."""

    kind: Literal["sagemaker"]
    instance_type: str = "ml.g5.xlarge"
    # Instances at first deploy; the component's copies are placed on them.
    initial_instance_count: int = Field(default=1, ge=1, le=20)
    # Bounds on the component's copies (one GPU each) and on the instances under them.
    min: int = Field(default=0, ge=0, le=20)
    max: int = Field(default=2, ge=1, le=40)
    # Target-tracking goal: requests in flight per copy (high-resolution metric).
    concurrent_requests_per_copy: int = Field(default=4, ge=1, le=1000)
    # What one copy reserves on the instance (ml.g5.xlarge: 4 vCPU, 16 GiB, 1 GPU).
    copy_accelerators: int = Field(default=1, ge=0, le=8)
    copy_cpu_cores: float = Field(default=2, gt=0, le=192)
    copy_memory_mb: int = Field(default=8192, ge=128)
    # Seconds from the first request to a sleeping model until it answers: the router's
    # Retry-After. A GPU instance launch (about 5 min) plus the image's start period.
    wake_seconds: int = Field(default=900, ge=30, le=3600)
    model_id: str = Field(min_length=1)

    @field_validator("instance_type")
    @classmethod
    def _gpu_sagemaker_type(cls, value: str) -> str:
        if not _SAGEMAKER_TYPE.match(value):
            raise ValueError(f"must look like ml.<family>.<size>, got {value!r}")
        if _family(value) not in _GPU_FAMILIES:
            raise ValueError(f"{value!r} is not a GPU instance type ({', '.join(_GPU_FAMILIES)})")
        return value

    @model_validator(mode="after")
    def _bounds(self) -> SageMakerHosting:
        if not self.min <= self.max:
            raise ValueError("need min <= max")
        if self.initial_instance_count > self.max:
            raise ValueError("need initial_instance_count <= max")
        return self


class EcsHosting(_Strict):
    """An ECS service on GPU EC2 capacity, one task per GPU."""

    kind: Literal["ecs"]
    instance_type: str = "g5.xlarge"
    # Tasks at first deploy; autoscaling then moves between min_count and max_instances.
    desired_count: int = Field(default=1, ge=0, le=20)
    # 0 lets the model sleep: no task and no GPU host while unused (capacity-provider ASG
    # minimum is 0 too); a request for it wakes it (see docs/deploy.md).
    min_count: int = Field(default=0, ge=0, le=20)
    # Seconds a sleeping model takes to answer once woken: the router's Retry-After. About
    # 3 min for the capacity provider to boot a GPU host plus the image's HEALTHCHECK start
    # period (300 s); tests/infra/test_lambda_readiness.py keeps it above the latter.
    wake_seconds: int = Field(default=480, ge=30, le=3600)
    # Idle minutes with no request before a scale-to-zero model is put to sleep.
    idle_minutes: int = Field(default=30, ge=5, le=1440)
    max_instances: int = Field(default=2, ge=1, le=40)
    gpu_count: int = Field(default=1, ge=1, le=8)
    memory_reservation_mib: int = Field(default=12288, ge=512)
    model_id: str = Field(min_length=1)

    @field_validator("instance_type")
    @classmethod
    def _gpu_ec2_type(cls, value: str) -> str:
        if value.startswith("ml.") or not _EC2_TYPE.match(value):
            raise ValueError(f"must be an EC2 instance type like g5.xlarge, got {value!r}")
        if _family(value) not in _GPU_FAMILIES:
            raise ValueError(f"{value!r} is not a GPU instance type ({', '.join(_GPU_FAMILIES)})")
        return value

    @model_validator(mode="after")
    def _capacity(self) -> EcsHosting:
        if self.desired_count > self.max_instances:
            raise ValueError("desired_count must not exceed max_instances")
        if self.min_count > self.max_instances:
            raise ValueError("min_count must not exceed max_instances")
        return self


class ExternalHosting(_Strict):
    """A model served by a provider outside the deployment; only its key lives with us."""

    kind: Literal["external"]
    provider: Literal["openai", "azure", "anthropic", "bedrock", "gemini", "deepseek", "minimax"]
    base_url: str | None = None
    api_key_secret_name: str | None = None
    # Provider-side model name when it differs from the catalog id.
    provider_model: str | None = None

    @model_validator(mode="after")
    def _key_where_needed(self) -> ExternalHosting:
        if self.provider != "bedrock" and not self.api_key_secret_name:
            raise ValueError(f"provider {self.provider} needs api_key_secret_name")
        if self.base_url is not None and not self.base_url.startswith("https://"):
            raise ValueError("base_url must use https://")
        return self


Hosting = Annotated[SageMakerHosting | EcsHosting | ExternalHosting, Field(discriminator="kind")]


class ModelConfig(ModelSpec):
    """A catalog entry plus where it runs."""

    hosting: Hosting

    def spec(self) -> ModelSpec:
        fields = self.model_dump(exclude={"hosting"})
        if isinstance(self.hosting, ExternalHosting):
            fields["provider"] = self.hosting.provider
        return ModelSpec.model_validate(fields)

    @property
    def scales_to_zero(self) -> bool:
        """True when the model may have no instance at all while unused."""
        hosting = self.hosting
        if isinstance(hosting, EcsHosting):
            return hosting.min_count == 0
        return isinstance(hosting, SageMakerHosting) and hosting.min == 0


class Sizes(_Strict):
    router_memory_mb: int = Field(default=1769, ge=128, le=10240)
    stream_memory_mb: int = Field(default=1769, ge=128, le=10240)
    worker_memory_mb: int = Field(default=512, ge=128, le=10240)
    router_timeout_seconds: int = Field(default=29, ge=3, le=900)
    stream_timeout_seconds: int = Field(default=900, ge=3, le=900)
    rds_instance_class: str = "t4g.micro"
    rds_allocated_storage_gb: int = Field(default=20, ge=20, le=65536)
    rds_max_allocated_storage_gb: int = Field(default=100, ge=20, le=65536)
    cache_node_type: str = "cache.t4g.micro"
    cache_replicas: int = Field(default=0, ge=0, le=5)
    nat_gateways: int = Field(default=1, ge=0, le=3)
    # "instance": one t4g.nano NAT instance (about $7 a month with its public IPv4 address)
    # instead of NAT gateways ($33 each plus data processing); for stages that idle.
    nat_kind: Literal["gateway", "instance"] = "gateway"
    nat_instance_type: str = "t4g.nano"
    # Interface endpoints ($7.30 a month each per AZ) keep AWS API traffic off the NAT; a
    # stage with a NAT instance can send it through the instance for free instead.
    interface_endpoints: bool = True
    max_azs: int = Field(default=1, ge=1, le=3)
    log_retention_days: int = 30
    backup_retention_days: int = Field(default=7, ge=1, le=35)
    health_check_minutes: int = Field(default=1, ge=1, le=60)
    waf_requests_per_5min: int = Field(default=2000, ge=10)
    api_rate_limit_rps: int = Field(default=50, ge=1)
    api_burst_limit: int = Field(default=100, ge=1)

    @field_validator("rds_instance_class")
    @classmethod
    def _rds_class(cls, value: str) -> str:
        if value.startswith("db.") or not _EC2_TYPE.match(value):
            raise ValueError(f"use the class without 'db.', e.g. t4g.micro; got {value!r}")
        return value

    @field_validator("cache_node_type")
    @classmethod
    def _cache_type(cls, value: str) -> str:
        if not value.startswith("cache."):
            raise ValueError(f"must start with 'cache.', got {value!r}")
        return value

    @field_validator("log_retention_days")
    @classmethod
    def _retention(cls, value: int) -> int:
        allowed = (1, 3, 5, 7, 14, 30, 60, 90, 120, 150, 180, 365, 400, 545, 731, 1827, 3653)
        if value not in allowed:
            raise ValueError(f"CloudWatch Logs accepts only {allowed}")
        return value


class Alarms(_Strict):
    error_rate_percent: float = Field(default=5.0, gt=0, le=100)
    latency_p99_ms: float = Field(default=20000.0, gt=0)
    overhead_p99_ms: float = Field(default=50.0, gt=0)


class Demo(_Strict):
    """Demo switches: the container's tiny offline model instead of real weights."""

    enabled: bool = False


class Environment(_Strict):
    account: str | None = Field(default=None, pattern=r"^\d{12}$")
    region: str | None = Field(default=None, pattern=r"^[a-z]{2}(-[a-z]+)+-\d$")

    @field_validator("region")
    @classmethod
    def _aws_partition(cls, value: str | None) -> str | None:
        # The Lambda Web Adapter and Powertools layers are published in `aws` only.
        if value is not None and value.startswith(("cn-", "us-gov-", "us-iso")):
            raise ValueError(f"{value} is outside the aws partition, which the stacks target")
        return value


class StageConfig(_Strict):
    """Everything one deployment (dev, prod) needs, validated before any construct exists."""

    name: str = Field(pattern=r"^[a-z][a-z0-9]{1,11}$")
    env: Environment = Environment()
    domain_name: str = Field(pattern=r"^([a-z0-9-]+\.)+[a-z]{2,}$")
    stream_domain_name: str | None = Field(default=None, pattern=r"^([a-z0-9-]+\.)+[a-z]{2,}$")
    hosted_zone_id: str = Field(pattern=r"^Z[A-Z0-9]{4,32}$")
    hosted_zone_name: str = Field(pattern=r"^([a-z0-9-]+\.)+[a-z]{2,}$")
    alarm_email: str = Field(pattern=r"^[^@\s]+@[^@\s]+\.[a-z]{2,}$")
    multi_az: bool = False
    sizes: Sizes = Sizes()
    alarms: Alarms = Alarms()
    demo: Demo = Demo()
    # None: Powertools comes bundled from lambdas/requirements.txt; a number adds the public
    # AWSLambdaPowertoolsPythonV3-python312-arm64 layer of that version instead.
    powertools_layer_version: int | None = Field(default=None, ge=1)
    # The containers authenticate to the registration routes with Bearer enrollment keys.
    # True puts an IAM (SigV4) authorizer on those routes for containers that sign requests.
    registration_iam_auth: bool = False
    # The adapter's docs list arm64 layer version 26 (aws partition only; see infra/layers.py).
    lambda_web_adapter_layer_version: int = Field(default=26, ge=1)
    # SnapStart caches a snapshot per published version, billed while the version is live
    # (about $7 a month at 1769 MB); dev trades the faster cold start for that.
    snap_start: bool = True
    # The web ACL on the stream door ($5 a month plus $1 per rule).
    waf: bool = True
    models: tuple[ModelConfig, ...] = Field(min_length=1)

    @model_validator(mode="after")
    def _consistent(self) -> StageConfig:
        Catalog(models=tuple(m.spec() for m in self.models))
        for host in (self.domain_name, self.stream_host):
            if host != self.hosted_zone_name and not host.endswith("." + self.hosted_zone_name):
                raise ValueError(f"{host} is not inside hosted zone {self.hosted_zone_name}")
        if self.multi_az and self.sizes.max_azs < 2:
            raise ValueError("multi_az needs sizes.max_azs >= 2")
        if self.multi_az and self.sizes.cache_replicas < 1:
            raise ValueError("multi_az needs sizes.cache_replicas >= 1 for cache failover")
        return self

    @property
    def stream_host(self) -> str:
        return self.stream_domain_name or f"stream.{self.domain_name}"

    @property
    def prefix(self) -> str:
        return f"MotherFluxer-{self.name}"

    def catalog(self) -> Catalog:
        return Catalog(models=tuple(m.spec() for m in self.models))

    def catalog_json(self) -> str:
        """The routing catalog as the router reads it: ModelSpec fields only, plus, when a
        model may sleep, which ones and how long each takes to wake (router/wake.py), and a
        readiness list without them (router/readiness.py) so `/health/ready` does not wait
        for a model that is asleep by design."""
        doc: dict[str, Any] = self.catalog().model_dump(mode="json")
        sleeping = [m for m in self.models if m.scales_to_zero]
        if sleeping:
            doc["scale_to_zero"] = {
                m.id: {"wake_seconds": m.hosting.wake_seconds}
                for m in sleeping
                if isinstance(m.hosting, EcsHosting | SageMakerHosting)
            }
            doc["readiness"] = {"models": [m.id for m in self.models if not m.scales_to_zero]}
        return json.dumps(doc, sort_keys=True)

    def self_hosted(self) -> list[ModelConfig]:
        return [m for m in self.models if m.hosting.kind in ("sagemaker", "ecs")]

    def hosted_by(self, kind: str) -> list[ModelConfig]:
        return [m for m in self.models if m.hosting.kind == kind]


class AppConfig(_Strict):
    stages: dict[str, StageConfig]

    @model_validator(mode="before")
    @classmethod
    def _names_from_keys(cls, data: Any) -> Any:
        # The stage name is its key in cdk.json; copying it in keeps each StageConfig complete.
        if isinstance(data, Mapping) and isinstance(data.get("stages"), Mapping):
            stages = {
                key: {**value, "name": key} if isinstance(value, Mapping) else value
                for key, value in data["stages"].items()
            }
            return {**data, "stages": stages}
        return data


class ConfigError(Exception):
    """A configuration problem, already phrased for the person who wrote cdk.json."""


def slug(value: str, max_len: int = 63) -> str:
    """A name fragment safe for SageMaker, ECS and Secrets Manager names."""
    cleaned = re.sub(r"[^A-Za-z0-9]+", "-", value).strip("-").lower()
    return cleaned[:max_len].rstrip("-")


def _location(loc: tuple[Any, ...]) -> str:
    parts: list[str] = []
    for item in loc:
        if isinstance(item, int):
            parts[-1] = f"{parts[-1]}[{item}]" if parts else f"[{item}]"
        elif item in ("sagemaker", "ecs", "external") and parts and parts[-1] == "hosting":
            # pydantic names the union branch; the user never wrote it.
            continue
        else:
            parts.append(str(item))
    return ".".join(parts)


def format_errors(error: ValidationError, root: str = "") -> str:
    lines = []
    for item in error.errors():
        where = _location(tuple(item["loc"]))
        if root:
            where = f"{root}.{where}" if where else root
        message = item["msg"].removeprefix("Value error, ")
        lines.append(f"{where}: {message}" if where else message)
    return "\n".join(lines)


def load_config(context: Mapping[str, Any]) -> AppConfig:
    """Validate the `stages` context; raise ConfigError naming every bad field."""
    stages = context.get("stages")
    if isinstance(stages, str):
        # `-c stages=...` on the command line arrives as a JSON string.
        try:
            stages = json.loads(stages)
        except json.JSONDecodeError as exc:
            raise ConfigError(f"stages: not valid JSON ({exc})") from exc
    if not isinstance(stages, Mapping) or not stages:
        raise ConfigError("stages: missing from cdk.json context (expected a mapping of stages)")
    try:
        return AppConfig.model_validate({"stages": stages})
    except ValidationError as exc:
        raise ConfigError(format_errors(exc)) from exc


def select_stages(config: AppConfig, stage: str | None) -> list[StageConfig]:
    if stage is None:
        return list(config.stages.values())
    if stage not in config.stages:
        raise ConfigError(f"stage: {stage!r} is not one of {sorted(config.stages)}")
    return [config.stages[stage]]
