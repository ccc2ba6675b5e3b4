"""The ComfyUI provider: each of the owner's workflows is a model. A request fills the
workflow's bound inputs, goes to ``POST /prompt`` under a prompt id derived from the job and
attempt, is followed on the websocket, and its saved images come back through ``/view``."""

from __future__ import annotations

import asyncio
import base64
import contextlib
import logging
import math
import time

from PIL import Image

from engine.deadline import time_left
from engine.errors import InvalidRequest, ProviderError
from engine.loras import is_lora_name
from engine.provider import CancelToken, ProgressCallback
from engine.registry import ProviderConfig
from engine.remote.base import RemoteProvider, parse
from engine.remote.comfyui import ids
from engine.remote.comfyui.api import ComfyApi, FileRef, Record
from engine.remote.comfyui.options import ComfyOptions
from engine.remote.comfyui.watch import Watch, ws_url
from engine.remote.comfyui.workflow import Workflow, check, load, values_for
from engine.remote.http import RemoteClient
from engine.remote.inputs import canvas_size, fresh_png, paint_mask, png_bytes
from engine.types import (
    MASK_MODES,
    Capabilities,
    GeneratedImage,
    GenerationRequest,
    GenerationResult,
    Mode,
    ModelInfo,
    RunId,
)

log = logging.getLogger(__name__)

DEADLINE_MARGIN = 2.0  # seconds before the job's limit that a run gives up


class ComfyUIProvider(RemoteProvider):
    options: ComfyOptions

    def __init__(self, config: ProviderConfig) -> None:
        options = parse(ComfyOptions, config.options)
        key = config.api_key
        headers: dict[str, str] = {}
        secrets = [key or ""]
        if options.username is not None:
            token = base64.b64encode(f"{options.username}:{key or ''}".encode()).decode()
            headers["Authorization"] = f"Basic {token}"
            secrets.append(token)
        elif key:
            headers["Authorization"] = f"Bearer {key}"
        client = RemoteClient(
            config.name, options.base_url, headers=headers, policy=options.policy, secrets=secrets
        )
        super().__init__(config, options, client)
        self.api = ComfyApi(client)
        self._headers = headers
        self._data_dir = config.data_dir
        self._instance: str | None = options.instance_id
        self.workflows: dict[str, Workflow] = {
            name: load(name, settings) for name, settings in options.workflows.items()
        }
        self.problems: dict[str, list[str]] = {}
        self._usable = tuple(self.workflows)

    @property
    def capabilities(self) -> Capabilities:
        usable = [self.workflows[name] for name in self._usable]
        modes = {Mode.TXT2IMG}
        for workflow in usable:
            modes |= set(workflow.modes)
        return Capabilities(
            modes=frozenset(modes),
            models=self._usable,
            negative_prompt=any(w.bound("negative") for w in usable),
            guidance=any(w.bound("cfg") for w in usable),
            samplers=tuple(dict.fromkeys(s for w in usable for s in w.samplers)),
            loras=any(w.bound("lora_name") for w in usable),
            max_images=self.options.max_images,
            nsfw=self.options.nsfw,
        )

    @property
    def default_model(self) -> str:
        return self._usable[0] if self._usable else next(iter(self.workflows))

    async def start(self) -> None:
        """Check each workflow against ``/object_info``; one that does not fit is reported
        by name and left out."""
        try:
            info = await self.api.object_info()
        except ProviderError as err:
            self.unavailable = err.user_message
            log.warning("Provider %s is unavailable: %s", self.name, err.user_message)
            return
        self.problems = {}
        for name, workflow in self.workflows.items():
            problems = check(workflow, info)
            if self.options.samplers:  # the owner's narrower list
                workflow.samplers = tuple(
                    s for s in workflow.samplers if s in self.options.samplers
                )
            if problems:
                self.problems[name] = problems
                log.warning(
                    "Provider %s leaves out workflow %s: %s", self.name, name, "; ".join(problems)
                )
        self._usable = tuple(name for name in self.workflows if name not in self.problems)
        if not self._usable:
            self.unavailable = "no workflow fits the server: " + "; ".join(
                f"{name}: {problems[0]}" for name, problems in self.problems.items()
            )
        else:
            self.unavailable = None

    def left_out(self) -> dict[str, list[str]]:
        return dict(self.problems)

    def model_info(self, model: str) -> ModelInfo:
        workflow = self.workflows.get(model)
        if workflow is None:
            return super().model_info(model)
        modes = workflow.modes
        return ModelInfo(
            family=workflow.settings.description,
            negative_prompt=workflow.bound("negative"),
            guidance=workflow.bound("cfg"),
            samplers=workflow.samplers,
            img2img=Mode.IMG2IMG in modes,
            upscale=False,
            loras=workflow.bound("lora_name"),
            inpaint=Mode.INPAINT in modes,
            outpaint=Mode.OUTPAINT in modes,
        )

    def lora_names(self, model: str | None = None) -> list[str]:
        chosen = [self.workflows[model]] if model in self.workflows else self._workflows_used()
        return list(dict.fromkeys(lora for w in chosen for lora in self._allowed_loras(w)))

    def model_is_nsfw(self, model: str) -> bool:
        workflow = self.workflows.get(model)
        return self.options.nsfw or (workflow is not None and workflow.settings.nsfw)

    def _workflows_used(self) -> list[Workflow]:
        return [self.workflows[name] for name in self._usable]

    def _allowed_loras(self, workflow: Workflow) -> tuple[str, ...]:
        """The server's LoRAs for this workflow that members may name: the owner's list where
        set; never one in a subfolder (a LoRA is named, never located)."""
        if not workflow.bound("lora_name"):
            return ()
        wanted = self.options.loras
        return tuple(
            lora for lora in workflow.loras if is_lora_name(lora) and (not wanted or lora in wanted)
        )

    def prepare(self, request: GenerationRequest) -> GenerationRequest:
        if request.mode in MASK_MODES:
            request = canvas_size(request, self.capabilities.size_multiple)
        resolved = super().prepare(request)
        workflow = self.workflows[resolved.model or self.default_model]
        if resolved.mode not in workflow.modes:
            raise InvalidRequest(
                "mode",
                resolved.mode.value,
                f"the {workflow.name} workflow does {', '.join(m.value for m in workflow.modes)}"
                "; pick another model",
            )
        for field, value, bound in (
            ("negative", resolved.negative_prompt or None, "negative"),
            ("guidance", resolved.guidance, "cfg"),
            ("steps", resolved.steps, "steps"),
            ("sampler", resolved.sampler, "sampler"),
        ):
            if value is not None and not workflow.bound(bound):
                raise InvalidRequest(field, value, f"the {workflow.name} workflow sets its own")
        if resolved.sampler is not None and resolved.sampler not in workflow.samplers:
            raise InvalidRequest(
                "sampler", resolved.sampler, "pick one of " + ", ".join(workflow.samplers)
            )
        if resolved.loras:
            allowed = self._allowed_loras(workflow)
            if not allowed:
                raise InvalidRequest(
                    "loras", resolved.loras[0].name, f"the {workflow.name} workflow takes none"
                )
            if len(resolved.loras) > 1:
                raise InvalidRequest(
                    "loras", resolved.loras[1].name, f"the {workflow.name} workflow takes one"
                )
            if resolved.loras[0].name not in allowed:
                raise InvalidRequest(
                    "loras", resolved.loras[0].name, "one of " + ", ".join(allowed)
                )
        return resolved

    async def generate(
        self, request: GenerationRequest, progress: ProgressCallback, cancel: CancelToken
    ) -> GenerationResult:
        started = time.perf_counter()
        workflow = self.workflows[request.model or self.default_model]
        batch = workflow.bound("count")
        prompts = 1 if batch else request.count
        run = request.run
        # ends just before the job's own limit, so that the prompts are stopped on the server
        left = time_left()
        limit = math.inf if left is None else max(0.0, left - DEADLINE_MARGIN)
        deadline = time.monotonic() + min(self.options.deadline_seconds, limit)
        client_id = ids.client_id(self.instance, self.name, run)
        url = ws_url(self.options.base_url, client_id)
        async with Watch(
            self.api,
            url,
            self._headers,
            progress,
            poll_seconds=self.options.poll_seconds,
            max_preview_bytes=self.options.max_preview_kb * 1024,
        ) as watch:
            found, prompt_ids = await self._recover(run, prompts, watch)
            watch.ours.update(prompt_ids)
            uploads: dict[str, str] | None = None
            plan: list[str] = []
            for k in range(prompts):
                if k in found:
                    plan.append(found[k])
                    continue
                if uploads is None:
                    uploads = await self._upload(request, workflow)
                graph = workflow.filled(values_for(request, workflow, k, batch) | uploads)
                taken = await self.api.submit(graph, client_id, prompt_ids[k])
                watch.ours.add(taken)
                plan.append(taken)
            # With our own ids a later attempt finds these prompts; an older server's own ids
            # would be lost, so what follows is then not worth resending.
            recoverable = run is not None and plan == [
                found.get(k, self._prompt_id(run, k)) for k in range(prompts)
            ]
            guard = contextlib.nullcontext() if recoverable else self.client.submitted()
            images: list[Image.Image] = []
            with guard:
                for k, pid in enumerate(plan):
                    label = f"image {k + 1} of {prompts}" if prompts > 1 else ""
                    record = await watch.until_done(pid, cancel, deadline, label)
                    expected = request.count if batch else 1
                    refs = self._outputs(workflow, record, watch.outputs.get(pid), expected)
                    images += [await self.api.image(ref) for ref in refs]
        seeds: list[int | None]
        if request.seed is None:
            seeds = [None] * len(images)
        elif batch:  # one noise for the whole batch: only the first image is seed + 0 alone
            seeds = [request.seed] + [None] * (len(images) - 1)
        else:
            seeds = list(request.seeds)
        return GenerationResult(
            tuple(GeneratedImage(image, seed) for image, seed in zip(images, seeds, strict=True)),
            workflow.name,
            time.perf_counter() - started,
        )

    async def _upload(self, request: GenerationRequest, workflow: Workflow) -> dict[str, str]:
        """The member's image (decoded and encoded afresh) and mask, as LoadImage names: the
        mask goes onto the image as its alpha, transparent where the model paints."""
        if request.init_image is None or not workflow.bound("image"):
            return {}
        image = await asyncio.to_thread(fresh_png, request.init_image)
        name = await self.api.upload(image)
        if request.mask_image is None or not workflow.bound("mask"):
            return {"image": name}
        mask = await asyncio.to_thread(_alpha_mask, request.mask_image)
        return {"image": name, "mask": await self.api.upload(mask, mask_of=name)}

    def _outputs(
        self,
        workflow: Workflow,
        record: Record,
        seen: dict[str, list[FileRef]] | None,
        expected: int,
    ) -> list[FileRef]:
        outputs = record.outputs or seen or {}
        if workflow.settings.output is not None:
            refs = list(outputs.get(workflow.settings.output, ()))
        else:
            refs = [ref for node in outputs.values() for ref in node if ref.type == "output"]
        if len(refs) < expected:
            raise ProviderError(
                self.client.say(f"saved {len(refs)} of {expected} images of the workflow")
            )
        return refs[:expected]

    async def _recover(
        self, run: RunId | None, prompts: int, watch: Watch
    ) -> tuple[dict[int, str], list[str]]:
        """For each image k, a prompt of this job that finished or is still queued, from this
        attempt (a job put back at shutdown runs as the same attempt again) or an earlier one
        (after a crash): it is followed, or its images fetched, instead of being submitted
        again. Also the ids to submit under: this attempt's, or, where the server already
        holds that one as failed, another (an id is never used twice)."""
        fresh = [self._prompt_id(run, k) for k in range(prompts)]
        found: dict[int, str] = {}
        if run is None:
            return found, fresh
        running, pending = await self.api.queue()
        for k in range(prompts):
            for attempt in range(run.attempt, 0, -1):
                pid = self._prompt_id(RunId(run.job_id, attempt), k)
                record = await self.api.history(pid)
                if (record is not None and record.succeeded) or pid in running or pid in pending:
                    found[k] = pid
                    watch.ours.add(pid)
                    log.info(
                        "%s: job %d image %d follows its prompt of attempt %d",
                        self.name,
                        run.job_id,
                        k,
                        attempt,
                    )
                    break
                if record is not None and attempt == run.attempt:
                    fresh[k] = ids.prompt_id(self.instance, self.name, run, k, again=True)
        return found, fresh

    def _prompt_id(self, run: RunId | None, k: int) -> str:
        return ids.prompt_id(self.instance, self.name, run, k)

    @property
    def instance(self) -> str:
        """Who we are to the server: the instance_id setting, else an id kept in the bot's
        data folder, else (no folder) one for this process only."""
        if self._instance is None:
            self._instance = ids.instance_in(self._data_dir)
        return self._instance


def _alpha_mask(data: bytes) -> bytes:
    """The mask as ComfyUI's LoadImage reads one: alpha 0 (its MASK 1) where the model paints."""
    paint = paint_mask(data)
    image = Image.new("RGBA", paint.size, (0, 0, 0, 255))
    image.putalpha(paint.point(lambda value: 255 - value))
    return png_bytes(image)
