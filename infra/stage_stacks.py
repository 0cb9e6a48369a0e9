"""The stacks of one stage, as one value (built by infra/stages.py, read by infra/nag.py)."""

from __future__ import annotations

from dataclasses import dataclass

from infra.api_stack import ApiStack
from infra.console_stack import ConsoleStack
from infra.data_stack import DataStack
from infra.models_stack import ModelsStack
from infra.monitoring_stack import MonitoringStack
from infra.network_stack import NetworkStack


@dataclass(frozen=True)
class StageStacks:
    network: NetworkStack
    data: DataStack
    api: ApiStack
    models: ModelsStack | None
    monitoring: MonitoringStack
    console: ConsoleStack | None = None
