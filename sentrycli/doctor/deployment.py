"""What the checks of `sentry doctor` share, each looked up once: the deployed function, its settings, the account."""

from __future__ import annotations

from collections.abc import Callable, Iterable
from functools import cached_property
from typing import Any

from botocore.exceptions import ClientError

from chalicelib.domain.config import Settings, sweep_queue
from sentrycli.project import Project

Clients = Callable[..., Any]
# A check's answer: passed or not, and what it saw, in words a person can act on.
Judgement = tuple[bool, str]


class Deployment:
    def __init__(
        self,
        project: Project,
        stage: str,
        region: str,
        clients: Clients,
        function_name: str | None = None,
        sweep_function_name: str | None = None,
        worker_function_name: str | None = None,
    ) -> None:
        self.project, self.stage, self.region, self.clients = project, stage, region, clients
        self.function_name = function_name or project.function_name(stage)
        # Named by chalice deploy unless the handler's name was given (CloudFormation, Terraform).
        self.sweep_function_name = sweep_function_name or (None if function_name else project.sweep_name(stage))
        self.worker_function_name = worker_function_name or (None if function_name else project.worker_name(stage))

    @cached_property
    def deployed(self) -> dict[str, Any] | None:
        """The deployed function's configuration (with its reserved concurrency), or None."""
        return self.function_configuration(self.function_name)

    def function_configuration(self, name: str) -> dict[str, Any] | None:
        try:
            found = self.clients("lambda").get_function(FunctionName=name)
        except ClientError as error:
            if error.response.get("Error", {}).get("Code") == "ResourceNotFoundException":
                return None
            raise
        return dict(found["Configuration"]) | {"Concurrency": found.get("Concurrency", {})}

    @cached_property
    def environment(self) -> dict[str, str]:
        """What the function runs with when it is deployed (not what config.json meant), else config.json's."""
        if self.deployed is not None:
            return dict(self.deployed.get("Environment", {}).get("Variables", {}))
        return self.project.environment(self.stage)

    @cached_property
    def settings(self) -> Settings:
        return Settings.from_env(self.environment)

    @cached_property
    def central_functions(self) -> dict[str, str | None]:
        """What each function of the stage is named (None: not known); the sweep's worker only with its queue."""
        functions = {"function": self.function_name, "sweep": self.sweep_function_name}
        if sweep_queue(self.environment):
            functions["worker"] = self.worker_function_name
        return functions

    @cached_property
    def account(self) -> str:
        return str(self.clients("sts").get_caller_identity()["Account"])

    def function_arn(self, name: str) -> str:
        return f"arn:aws:lambda:{self.region}:{self.account}:function:{name}"


def listing(client: Any, operation: str, key: str, **params: Any) -> list[Any]:
    """Every item of a listing, through the paginator when the operation has one."""
    if client.can_paginate(operation):
        pages: Iterable[dict[str, Any]] = client.get_paginator(operation).paginate(**params)
    else:
        pages = [getattr(client, operation)(**params)]
    return [item for page in pages for item in page.get(key, [])]
