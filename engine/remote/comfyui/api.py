"""ComfyUI's HTTP routes as the provider uses them: submit, queue, history, interrupt,
uploads and the output files, each answer checked before it is trusted."""

from __future__ import annotations

import asyncio
import json
import logging
import uuid
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlencode

from PIL import Image

from engine.errors import OutcomeUnknown, ProviderError, ProviderRejected
from engine.remote.http import Form, RemoteClient

log = logging.getLogger(__name__)

OUTPUT_TYPES = frozenset({"output", "temp"})
MAX_NODE_ERRORS = 5


@dataclass(frozen=True, slots=True)
class FileRef:
    """An image ComfyUI holds: ``filename`` in ``subfolder`` of its ``type`` folder."""

    filename: str
    subfolder: str = ""
    type: str = "output"

    @classmethod
    def read(cls, data: Any) -> FileRef | None:
        if not isinstance(data, dict):
            return None
        name, sub, kind = data.get("filename"), data.get("subfolder") or "", data.get("type")
        if not isinstance(name, str) or not isinstance(sub, str) or kind not in OUTPUT_TYPES:
            return None
        if not name or "/" in name or "\\" in name or ".." in name or ".." in sub:
            return None
        return cls(name, sub, str(kind))


@dataclass(frozen=True, slots=True)
class Record:
    """A prompt in ``/history``: whether it ran to the end, its error, its saved images."""

    succeeded: bool
    completed: bool
    error: str | None
    outputs: dict[str, list[FileRef]]
    interrupted: bool = False


class ComfyApi:
    def __init__(self, client: RemoteClient) -> None:
        self.client = client

    @property
    def name(self) -> str:
        return self.client.provider

    async def object_info(self) -> dict[str, Any]:
        data = (await self.client.request("GET", "/object_info")).json()
        if not isinstance(data, dict):
            raise ProviderError(self.client.say("sent an /object_info the bot cannot read"))
        return data

    async def submit(self, graph: dict[str, Any], client_id: str, prompt_id: str) -> str:
        """Queue ``graph`` as ``prompt_id``; the id the server took (an older server picks its
        own). A submit whose answer was lost is looked up before it is called lost."""
        body = {"prompt": graph, "client_id": client_id, "prompt_id": prompt_id}
        try:
            answer = await self.client.request(
                "POST", "/prompt", json_body=body, idempotent=False, ok=frozenset({200, 400})
            )
        except OutcomeUnknown:
            if await self.where(prompt_id) is not None:
                return prompt_id
            raise
        data = answer.json()
        if not isinstance(data, dict):
            raise ProviderError(self.client.say("sent an answer to /prompt the bot cannot read"))
        if answer.status == 400:
            raise self._refusal(data)
        if data.get("node_errors"):
            errors = self.client.scrub("; ".join(self._node_errors(data)))
            log.warning("%s: some outputs will not run: %s", self.name, errors)
        taken = data.get("prompt_id")
        if not isinstance(taken, str) or not taken:
            raise ProviderError(self.client.say("accepted the workflow without a prompt_id"))
        if taken != prompt_id:
            log.warning(
                "%s: the server picked its own prompt id (a ComfyUI older than client-chosen "
                "ids): a job it runs cannot be recovered after a restart",
                self.name,
            )
        return taken

    def _refusal(self, data: dict[str, Any]) -> ProviderRejected:
        error = data.get("error")
        message = error.get("message") if isinstance(error, dict) else error
        details = self._node_errors(data)
        text = "; ".join(details) or str(message or "the workflow did not validate")
        return ProviderRejected(
            self.client.say(f"refused the workflow: {text[:600]}"), messages=tuple(details)
        )

    def _node_errors(self, data: dict[str, Any]) -> list[str]:
        """'node 4 (CheckpointLoaderSimple) ckpt_name: Value not in list: ...' per error."""
        found: list[str] = []
        errors = data.get("node_errors")
        if not isinstance(errors, dict):
            return found
        for node, entry in list(errors.items())[:MAX_NODE_ERRORS]:
            if not isinstance(entry, dict):
                continue
            kind = entry.get("class_type")
            for error in (entry.get("errors") or [])[:MAX_NODE_ERRORS]:
                if not isinstance(error, dict):
                    continue
                extra = error.get("extra_info") if isinstance(error.get("extra_info"), dict) else {}
                name = extra.get("input_name") if extra else None
                words = ": ".join(
                    str(part)[:200] for part in (error.get("message"), error.get("details")) if part
                )
                where = f"node {node}" + (f" ({kind})" if isinstance(kind, str) else "")
                found.append(f"{where}{f' input {name}' if name else ''}: {words}")
        return found

    async def queue(self) -> tuple[list[str], list[str]]:
        """The ids running and pending, in the server's order."""
        data = (await self.client.request("GET", "/queue")).json()
        if not isinstance(data, dict):
            raise ProviderError(self.client.say("sent a /queue the bot cannot read"))
        return _ids(data.get("queue_running")), _ids(data.get("queue_pending"))

    async def where(self, prompt_id: str) -> str | None:
        """ "running", "pending", "done" (in the history) or None: unknown to the server."""
        if await self.history(prompt_id) is not None:
            return "done"
        running, pending = await self.queue()
        if prompt_id in running:
            return "running"
        return "pending" if prompt_id in pending else None

    async def history(self, prompt_id: str) -> Record | None:
        data = (await self.client.request("GET", f"/history/{prompt_id}")).json()
        if not isinstance(data, dict) or not isinstance(data.get(prompt_id), dict):
            return None
        entry = data[prompt_id]
        status = entry.get("status") if isinstance(entry.get("status"), dict) else {}
        found = entry.get("outputs") if isinstance(entry.get("outputs"), dict) else {}
        outputs: dict[str, list[FileRef]] = {}
        for node, output in found.items():
            if isinstance(output, dict) and isinstance(output.get("images"), list):
                refs = [FileRef.read(item) for item in output["images"]]
                outputs[str(node)] = [ref for ref in refs if ref is not None]
        error, interrupted = None, False
        messages = status.get("messages")
        for message in messages if isinstance(messages, list) else ():
            if not isinstance(message, list) or len(message) != 2:
                continue
            event, body = message
            if event == "execution_error" and isinstance(body, dict):
                error = execution_error(body)
            interrupted = interrupted or event == "execution_interrupted"
        succeeded = status.get("status_str") == "success" if status else bool(outputs)
        completed = bool(status.get("completed", succeeded))
        return Record(succeeded, completed, error, outputs, interrupted)

    async def delete(self, prompt_ids: list[str]) -> None:
        await self.client.request("POST", "/queue", json_body={"delete": prompt_ids})

    async def interrupt(self, prompt_id: str) -> None:
        """Newer servers interrupt only this prompt; older ones whatever runs, so the caller
        checks first that it is ours."""
        await self.client.request("POST", "/interrupt", json_body={"prompt_id": prompt_id})

    async def upload(self, data: bytes, mask_of: str | None = None) -> str:
        """Upload a PNG for a LoadImage node; with ``mask_of`` (an uploaded image's name)
        the PNG's alpha becomes that image's mask, as ComfyUI's mask editor saves it."""
        filename = f"bot-{uuid.uuid4().hex}.png"
        fields = {"type": "input", "overwrite": "false"}
        if mask_of is not None:
            fields["original_ref"] = json.dumps(
                {"filename": mask_of, "subfolder": "", "type": "input"}
            )
        path = "/upload/mask" if mask_of is not None else "/upload/image"
        form = Form(fields, [("image", filename, data, "image/png")])
        answer = await self.client.request("POST", path, form=form)
        reply = answer.json()
        name = reply.get("name") if isinstance(reply, dict) else None
        if not isinstance(name, str) or not name or "/" in name or "\\" in name:
            raise ProviderError(self.client.say(f"sent an answer to {path} the bot cannot read"))
        sub = reply.get("subfolder") or ""
        return f"{sub}/{name}" if isinstance(sub, str) and sub else name

    async def image(self, ref: FileRef) -> Image.Image:
        """An output through the bounded reader, decoded with the bomb guard."""
        query = urlencode({"filename": ref.filename, "subfolder": ref.subfolder, "type": ref.type})
        answer = await self.client.request("GET", f"/view?{query}")
        # up to 4096×4096 pixels each: decoded off the event loop
        return await asyncio.to_thread(self.client.decode_image, answer.body, answer.content_type)


def execution_error(data: dict[str, Any]) -> str:
    """An ``execution_error`` in words: the node, its class and the exception's message."""
    node, kind = data.get("node_id"), data.get("node_type")
    message = str(data.get("exception_message") or data.get("exception_type") or "an error")
    where = f"node {node}" + (f" ({kind})" if isinstance(kind, str) else "")
    return f"failed at {where}: {' '.join(message.split())[:400]}"


def _ids(items: Any) -> list[str]:
    """Queue entries are [number, prompt_id, prompt, extra_data, outputs]."""
    if not isinstance(items, list):
        return []
    return [str(item[1]) for item in items if isinstance(item, list) and len(item) > 1]
