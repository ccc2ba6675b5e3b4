"""An owner's workflow: its API-format graph loaded and checked, checked again against the
server's ``/object_info``, and filled with one request's values."""

from __future__ import annotations

import copy
import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from engine.errors import ProviderConfigError
from engine.remote.comfyui.options import WorkflowSettings
from engine.types import GenerationRequest, Mode

UI_FORMAT = (
    "it is in ComfyUI's UI format (it has 'nodes' and 'links'); enable the developer mode "
    "options in ComfyUI's settings, then export it with Workflow > Export (API) (older "
    "versions: the 'Save (API Format)' button) and point path at that file"
)
MAX_WORKFLOW_BYTES = 4 * 2**20


@dataclass(frozen=True, slots=True)
class Target:
    node: str
    input: str

    def __str__(self) -> str:
        return f"{self.node}.{self.input}"


@dataclass(slots=True)
class Workflow:
    """A workflow as loaded; ``samplers`` and ``loras`` come from the server at start."""

    name: str
    graph: dict[str, dict[str, Any]]
    binding: dict[str, tuple[Target, ...]]
    settings: WorkflowSettings
    samplers: tuple[str, ...] = ()
    loras: tuple[str, ...] = ()
    outputs: tuple[str, ...] = field(default=())

    def bound(self, name: str) -> bool:
        return name in self.binding

    @property
    def modes(self) -> tuple[Mode, ...]:
        """What it does: with a mask inpaint and outpaint, with an image img2img, else txt2img."""
        if self.bound("mask"):
            return (Mode.INPAINT, Mode.OUTPAINT)
        if self.bound("image"):
            return (Mode.IMG2IMG,)
        return (Mode.TXT2IMG,)

    def class_of(self, node: str) -> str:
        return str(self.graph[node]["class_type"])

    def filled(self, values: Mapping[str, Any]) -> dict[str, dict[str, Any]]:
        """A copy of the graph with each bound field of ``values`` written to its inputs."""
        graph = copy.deepcopy(self.graph)
        for name, value in values.items():
            for target in self.binding.get(name, ()):
                graph[target.node]["inputs"][target.input] = value
        return graph


def load(name: str, settings: WorkflowSettings) -> Workflow:
    """Read and check a workflow file; a problem names ``workflows.NAME.path``."""
    key = f"workflows.{name}.path"
    try:
        # a FIFO or a device (/dev/zero) would hang the start or fill the memory: a file only,
        # and no more of it than a workflow may hold
        if not settings.path.is_file():
            raise ProviderConfigError(key, str(settings.path), "a regular file")
        with settings.path.open("rb") as file:
            raw = file.read(MAX_WORKFLOW_BYTES + 1)
    except OSError as err:
        raise ProviderConfigError(
            key, str(settings.path), f"a readable file ({err.strerror})"
        ) from None
    if len(raw) > MAX_WORKFLOW_BYTES:
        raise ProviderConfigError(key, str(settings.path), "a workflow of 4 MiB at most")
    try:
        data = json.loads(raw)
    except ValueError as err:
        raise ProviderConfigError(key, str(settings.path), f"a JSON file ({err})") from None
    except RecursionError:
        raise ProviderConfigError(key, str(settings.path), "a JSON file nested less deep") from None
    graph = api_graph(data, key, str(settings.path))
    binding = {
        field_name: tuple(Target(*target.split(".", 1)) for target in targets)
        for field_name, targets in settings.binding.items()
    }
    for field_name, targets in binding.items():
        for target in targets:
            if target.node not in graph:
                raise ProviderConfigError(
                    f"workflows.{name}.binding.{field_name}",
                    str(target),
                    f"an input of a node in the workflow (it has no node {target.node!r})",
                )
    if settings.output is not None and settings.output not in graph:
        raise ProviderConfigError(
            f"workflows.{name}.output", settings.output, "the id of a node in the workflow"
        )
    return Workflow(name, graph, binding, settings)


def values_for(
    request: GenerationRequest, workflow: Workflow, k: int, batch: bool
) -> dict[str, Any]:
    """The values of a request's bound fields for image (or batch) ``k``; a field the
    request leaves out keeps the workflow's own value."""
    width, height = request.size
    values: dict[str, Any] = {
        "prompt": request.prompt,
        "negative": request.negative_prompt,
        "width": width,
        "height": height,
        "steps": request.steps,
        "cfg": request.guidance,
        "sampler": request.sampler,
        "denoise": request.strength,
        "count": request.count if batch else 1,
        "seed": None if request.seed is None else (request.seed if batch else request.seeds[k]),
    }
    if request.loras:
        values["lora_name"] = request.loras[0].name
        values["lora_weight"] = request.loras[0].weight
    elif workflow.bound("lora_weight"):
        values["lora_weight"] = 0.0  # the workflow's own LoRA, switched off
    return {name: value for name, value in values.items() if value is not None}


def api_graph(data: Any, key: str, where: str) -> dict[str, dict[str, Any]]:
    if isinstance(data, dict) and "nodes" in data and "links" in data:
        raise ProviderConfigError(key, where, UI_FORMAT)
    if isinstance(data, dict) and isinstance(data.get("prompt"), dict):
        data = data["prompt"]  # a saved /prompt body
    if not isinstance(data, dict) or not data:
        raise ProviderConfigError(
            key, where, "an API-format workflow: {node_id: {class_type, inputs}}"
        )
    for node, spec in data.items():
        if (
            not isinstance(spec, dict)
            or not isinstance(spec.get("class_type"), str)
            or not isinstance(spec.get("inputs"), dict)
        ):
            raise ProviderConfigError(
                key, where, f"an API-format workflow (node {node!r} has no class_type and inputs)"
            )
    return {str(node): spec for node, spec in data.items()}


def combo(spec: Any) -> list[str] | None:
    """The values a combo input takes, in either of object_info's forms: ``[[values], {}]``
    or ``["COMBO", {"options": [values]}]``; None for any other input."""
    if not isinstance(spec, list) or not spec:
        return None
    if isinstance(spec[0], list):
        return [str(value) for value in spec[0]]
    if spec[0] == "COMBO" and len(spec) > 1 and isinstance(spec[1], dict):
        options = spec[1].get("options")
        if isinstance(options, list):
            return [str(value) for value in options]
    return None


def inputs_of(info: Mapping[str, Any], class_type: str) -> dict[str, Any] | None:
    """A node class's inputs (required and optional) as object_info lists them."""
    node = info.get(class_type)
    if not isinstance(node, dict):
        return None
    inputs = node.get("input") or {}
    found: dict[str, Any] = {}
    for group in ("required", "optional"):
        if isinstance(inputs.get(group), dict):
            found.update(inputs[group])
    return found


def check(workflow: Workflow, info: Mapping[str, Any]) -> list[str]:
    """What stops the workflow running on this server, in the owner's words; empty when it
    fits. Learns its samplers and LoRAs from the server's lists on the way."""
    problems: list[str] = []
    for node, spec in workflow.graph.items():
        if inputs_of(info, spec["class_type"]) is None:
            problems.append(
                f"node {node} is a {spec['class_type']}, a node the server does not have "
                "(install its custom node pack)"
            )
    bound_inputs = {t for targets in workflow.binding.values() for t in targets}
    for field_name, targets in workflow.binding.items():
        for target in targets:
            inputs = inputs_of(info, workflow.class_of(target.node))
            if inputs is not None and target.input not in inputs:
                problems.append(
                    f"binding {field_name} = {target}: a {workflow.class_of(target.node)} has no "
                    f"input {target.input!r} (it has {', '.join(sorted(inputs)) or 'none'})"
                )
    for node, spec in workflow.graph.items():
        inputs = inputs_of(info, spec["class_type"]) or {}
        for name, value in spec["inputs"].items():
            values = combo(inputs.get(name))
            if values is None or not isinstance(value, str) or Target(node, name) in bound_inputs:
                continue
            if value not in values:
                problems.append(
                    f"node {node} ({spec['class_type']}) loads {name} = {value!r}, which the "
                    "server does not have"
                )
    workflow.samplers = tuple(_bound_list(workflow, info, "sampler"))
    workflow.loras = tuple(_bound_list(workflow, info, "lora_name"))
    return problems


def _bound_list(workflow: Workflow, info: Mapping[str, Any], field_name: str) -> list[str]:
    """The combo list of the first input ``field_name`` is bound to."""
    for target in workflow.binding.get(field_name, ()):
        inputs = inputs_of(info, workflow.class_of(target.node)) or {}
        values = combo(inputs.get(target.input))
        if values is not None:
            return values
    return []
