"""A client for a Feather server's HTTP API (docs/contracts.md section 5). Standard library only.

    import feather as ftr

    client = ftr.Client("http://localhost:8080", token="ftr_...")
    run = client.run("ada/image-classifier")                 # or "ada/image-classifier@3", version="stable"
    outputs = run.step(0, {"images": {"files": [ftr.Client.file("digit.png")]}})
    print(outputs[0]["value"]["texts"])                       # ["7 (81.6%)"]

    # a model with branches and loops: the server says what comes next
    outputs = run.advance(responses)                         # the next step on the path (the model's choice)
    outputs = run.advance(responses, step="save")            # or one the previous step offers (run.offered())
    print(run.path, run.complete)                            # ["start", "refine", "save"], True

    handle = run.submit(0, responses)                        # returns at once
    for event in handle.events():                            # status changes and new log text
        print(event)
    outputs = handle.result(timeout=120)                     # = run.step(0, responses, timeout=120)
    handle.cancel()                                          # or run.cancel(): stops a queued or running step

    step = client.execute("ada/image-classifier", responses, wait=60)   # one call: a new run's step 0

Routes and statuses come from `feather/_contract.py`, generated from the server's OpenAPI document
(scripts/gen-contract.py).

The blocking call is the non-blocking one plus a wait: `run.step(i, r)` is `run.submit(i, r).result()`.
A step that ends badly raises `StepFailed` (with the error type, message, model frames and logs)
or `InvalidInput` (naming the input); an HTTP error answered with problem details raises `ApiError`
(status, title, detail, errors).
"""
from __future__ import annotations

import base64
import io
import json
import os
import threading
import time
import urllib.error
import urllib.parse
import urllib.request
import zipfile
from typing import Any, Iterator

from . import _contract
from ._binary import guess_media_type
from .errors import FeatherError

PENDING = _contract.ACTIVE
"""Statuses of a step that is still running (queued, running); the server's table (feather/_contract.py,
generated from its OpenAPI document)."""


class _client_or_class:
    """A method that also works on the class (`Client.save(blob)`, the SDK's form before step files, when it was a
    static method): called so, `self` is None and only inline payloads can be read."""

    def __init__(self, fn: Any) -> None:
        self.fn = fn
        self.__doc__ = fn.__doc__

    def __get__(self, obj: Any, cls: Any = None) -> Any:
        import functools
        return functools.partial(self.fn, obj)


def _file_request(client: Client | None, blob: dict[str, Any]) -> tuple[str, urllib.request.Request]:
    """The GET of a file an output names by URL, with the client's token."""
    if client is None:
        raise ValueError(f"{blob.get('name')!r} is a file on the server ({blob.get('url')}); read it through a client: "
                         "client.data(blob), client.download(blob, directory)")
    url = blob["url"] if str(blob.get("url", "")).startswith(("http://", "https://")) else client.url + str(blob["url"])
    req = urllib.request.Request(url, method="GET")
    if client.token:
        req.add_header("Authorization", f"Bearer {client.token}")
    return url, req


class ApiError(FeatherError):
    """The server answered with an HTTP error (RFC 7807 problem details when it sent them)."""

    def __init__(self, status: int, title: str, detail: str | None = None,
                 errors: Any = None, method: str = "", url: str = "") -> None:
        self.status, self.title, self.detail, self.errors = status, title, detail, errors
        self.method, self.url = method, url
        text = f"{status} {title}" + (f": {detail}" if detail else "")
        if errors:
            text += f" ({json.dumps(errors)})"
        super().__init__(f"{method} {url}: {text}" if method else text)


class ServerUnreachable(FeatherError, ConnectionError):
    """No HTTP answer at all: wrong URL, server down, network trouble."""


class StepFailed(FeatherError):
    """A step ended with status failed, timed_out or cancelled (or invalid_input: see InvalidInput).
    `error` is the step's error object as the server sent it (`type`, `message`, `frames`)."""

    def __init__(self, step: dict[str, Any], run_id: str = "") -> None:
        self.step = step
        self.run_id = run_id
        self.index: int = step.get("index", -1)
        self.status: str = step.get("status", "")
        self.error: dict[str, Any] = step.get("error") or {}
        self.type: str | None = self.error.get("type")
        self.message: str = self.error.get("message") or self.status.replace("_", " ")
        self.frames: list[dict[str, Any]] = list(self.error.get("frames") or [])
        self.logs: str = _logs(step)
        super().__init__(self._text())

    def _text(self) -> str:
        head = f"step {self.index} {self.status}"
        text = f"{head}: {self.type}: {self.message}" if self.type else f"{head}: {self.message}"
        for frame in self.frames:
            text += f"\n  {frame.get('file')}:{frame.get('line')} in {frame.get('function')}: {frame.get('code')}"
        return text


class InvalidInput(StepFailed):
    """The step's responses (or the previous step's kept outputs) did not fit: `input` names the input."""

    def __init__(self, step: dict[str, Any], run_id: str = "") -> None:
        self.input: str | None = (step.get("error") or {}).get("input")
        super().__init__(step, run_id)

    def _text(self) -> str:
        return f"step {self.index}: invalid input {self.input!r}: {self.message}"


def _logs(step: dict[str, Any]) -> str:
    logs = step.get("logs")
    if logs is None:
        return ""
    return logs if isinstance(logs, str) else "\n".join(str(line) for line in logs)


def _raise_if_bad(step: dict[str, Any], run_id: str) -> None:
    status = step.get("status")
    if status == "succeeded":
        return
    if status == "invalid_input":
        raise InvalidInput(step, run_id)
    raise StepFailed(step, run_id)


class Client:
    """`Client(url, token=None)`: talks to one Feather server. Thread-safe: runs and step handles
    may be used from several threads. `timeout` bounds each HTTP request; `poll_interval` is the
    time between two polls of a pending step."""

    def __init__(self, url: str, token: str | None = None, *, timeout: float = 30.0,
                 poll_interval: float = 1.0) -> None:
        parsed = urllib.parse.urlsplit(url)
        if parsed.scheme not in ("http", "https") or not parsed.netloc:
            raise ValueError(f"server URL must look like http://host:port, got {url!r}")
        self.url = url.rstrip("/")
        self.token = token
        self.timeout = timeout
        self.poll_interval = poll_interval

    def __repr__(self) -> str:
        return f"Client({self.url!r}, token={'***' if self.token else None})"

    # ---- HTTP ---------------------------------------------------------------------------------

    def request(self, method: str, path: str, body: Any = None, headers: dict[str, str] | None = None) -> tuple[int, Any]:
        """One API call; returns (status, parsed JSON or None). Raises ApiError / ServerUnreachable."""
        url = path if path.startswith(("http://", "https://")) else self.url + path
        data = None if body is None else json.dumps(body).encode("utf-8")
        req = urllib.request.Request(url, data=data, method=method)
        req.add_header("Accept", "application/json")
        if data is not None:
            req.add_header("Content-Type", "application/json")
        if self.token:
            req.add_header("Authorization", f"Bearer {self.token}")
        for key, value in (headers or {}).items():
            req.add_header(key, value)
        try:
            with urllib.request.urlopen(req, timeout=self.timeout) as resp:
                raw = resp.read()
                return resp.status, json.loads(raw) if raw.strip() else None
        except urllib.error.HTTPError as exc:
            raise _api_error(exc, method, url) from None
        except urllib.error.URLError as exc:
            raise ServerUnreachable(f"{method} {url}: cannot reach the server: {exc.reason}") from None
        except (TimeoutError, ConnectionError) as exc:
            raise ServerUnreachable(f"{method} {url}: {exc}") from None
        except ValueError as exc:
            raise ApiError(0, "the server's answer is not JSON", str(exc), method=method, url=url) from None

    def call(self, operation: str, params: dict[str, Any] | None = None, body: Any = None,
             headers: dict[str, str] | None = None) -> tuple[int, Any]:
        """One API call by its operation id (feather/_contract.py), e.g. `call("getRun", {"runId": id})`."""
        method, path = route(operation, params or {})
        return self.request(method, path, body, headers)

    # ---- models and runs ----------------------------------------------------------------------

    def models(self) -> list[dict[str, Any]]:
        """`GET /api/models`: [{"owner", "name", "description", "liveVersion", "visibility", "tags"}]."""
        return self.call("listModels")[1]

    def model(self, owner_model: str) -> dict[str, Any]:
        """`GET /api/models/{owner}/{model}`: the model with its versions and the live metadata."""
        owner, name, _ = _split(owner_model)
        return self.call("getModel", {"owner": owner, "model": name})[1]

    def run(self, owner_model: str, version: int | str | None = None) -> Run:
        """Starts a run of `owner/model` pinned to `version` (a number or a tag; `owner/model@3` works
        too); the live version when neither is given."""
        owner, name, at = _split(owner_model)
        if version is not None and at is not None and str(version) != at:
            raise ValueError(f"two versions given: {owner_model!r} and version={version!r}")
        pinned = version if version is not None else at
        body: dict[str, Any] = {} if pinned is None else {"version": str(pinned)}
        return Run(self, self.call("startRun", {"owner": owner, "model": name}, body)[1])

    def get_run(self, run_id: str) -> Run:
        """An existing run (to resume it): `GET /api/runs/{id}`."""
        return Run(self, self.call("getRun", {"runId": run_id})[1])

    def execute(self, owner_model: str, responses: dict[str, Any] | None = None,
                version: int | str | None = None, *, wait: float = 0) -> StepHandle:
        """The stateless call (`POST /api/models/{owner}/{model}/execute`): starts a run and submits
        its step 0 at once; returns the step's handle (`.run` is the new run, `.result()` waits)."""
        owner, name, at = _split(owner_model)
        if version is not None and at is not None and str(version) != at:
            raise ValueError(f"two versions given: {owner_model!r} and version={version!r}")
        pinned = version if version is not None else at
        files = _local_files(responses)
        if files:  # no run to stream into yet: inline, within the same limits
            self.check_files(files)
            responses = _replace_files(responses, lambda f: f.payload())
        body: dict[str, Any] = {"responses": responses or {}}
        if pinned is not None:
            body["version"] = str(pinned)
        _, answer = self.call("execute", {"owner": owner, "model": name}, body, _prefer(wait))
        return StepHandle(self.get_run(answer["runId"]), 0, answer["step"])

    # ---- step files ---------------------------------------------------------------------------

    def limits(self) -> dict[str, int]:
        """`GET /api/limits`: {"maxStepFileBytes", "maxStepBytes"}, the server's limits on step files (asked once)."""
        if getattr(self, "_limits", None) is None:
            self._limits = self.call("getLimits")[1]
        return self._limits  # type: ignore[return-value]

    # ---- fine-tuning --------------------------------------------------------------------------

    def finetune(self, owner_model: str, dataset: str, params: dict[str, Any] | None = None,
                 version: int | str | None = None, dataset_version: int | None = None, *,
                 wait: bool = False, timeout: float | None = None) -> dict[str, Any]:
        """Starts a fine-tune job (`POST /api/finetunes`, docs/finetuning.md): `owner/model` (or `owner/model@3`)
        trained on the dataset `owner/name` with `params` (the others take their declared defaults). Answers the
        job; with `wait=True`, waits until it ends and answers its detail (`{"job", "history", "logs"}`), raising
        ApiError when it failed or was cancelled."""
        owner, name, at = _split(owner_model)
        if version is not None and at is not None and str(version) != at:
            raise ValueError(f"two versions given: {owner_model!r} and version={version!r}")
        pinned = version if version is not None else at
        body: dict[str, Any] = {"model": f"{owner}/{name}", "dataset": dataset}
        if pinned is not None:
            body["version"] = str(pinned)
        if dataset_version is not None:
            body["datasetVersion"] = dataset_version
        if params:
            body["params"] = params
        job = self.call("startFinetune", None, body)[1]
        if not wait:
            return job
        deadline = None if timeout is None else time.monotonic() + timeout
        while True:
            detail = self.finetune_job(job["id"])
            status = detail["job"]["status"]
            if status in FINETUNE_TERMINAL:
                if status != "succeeded":
                    raise ApiError(0, f"fine-tune {status}", detail["job"].get("error"), method="GET", url=job["id"])
                return detail
            if deadline is not None and time.monotonic() > deadline:
                raise TimeoutError(f"the fine-tune job {job['id']} is still {status} after {timeout} s")
            time.sleep(1)

    def finetune_job(self, job_id: str) -> dict[str, Any]:
        """`GET /api/finetunes/{id}`: the job, every progress report and its log."""
        return self.call("getFinetune", {"id": job_id})[1]

    # ---- feedback, usage, monitoring ----------------------------------------------------------

    def feedback(self, run_id: str, step: int, output: str, *, item: int | None = None,
                 correct: bool | None = None, label: str | None = None, label_item: int | None = None,
                 comment: str | None = None) -> dict[str, Any]:
        """`POST /api/runs/{id}/steps/{step}/feedback`: feedback on output `output` of a step (or on its
        item `item`): `correct=True/False`, the right answer (`label` typed, or `label_item` chosen from
        the items the output offered) and a comment. Giving feedback shares that step's inputs and
        outputs with the model's owner."""
        body: dict[str, Any] = {"output": output}
        if item is not None:
            body["item"] = int(item)
        if correct is not None:
            body["rating"] = "correct" if correct else "incorrect"
        if label is not None:
            body["label"] = label
        if label_item is not None:
            body["labelItem"] = int(label_item)
        if comment is not None:
            body["comment"] = comment
        return self.call("giveFeedback", {"runId": run_id, "index": int(step)}, body)[1]

    def model_feedback(self, owner_model: str, *, version: int | None = None, rating: str | None = None,
                       from_: str | None = None, to: str | None = None, limit: int | None = None) -> list[dict[str, Any]]:
        """`GET /api/models/{owner}/{model}/feedback` (the model's owner and team): the feedback with the
        inputs and outputs it is about, newest first; `rating` is correct, incorrect or none."""
        owner, name, _ = _split(owner_model)
        method, path = route("listModelFeedback", {"owner": owner, "model": name})
        query = _query(version=version, rating=rating, **{"from": from_}, to=to, limit=limit)
        return self.request(method, path + query)[1]

    def export_feedback(self, owner_model: str, directory: str | os.PathLike[str], *, version: int | None = None,
                        rating: str | None = None, from_: str | None = None, to: str | None = None) -> str:
        """Writes the model's feedback as a dataset directory (`feather datasets publish` accepts it)
        into `directory` (new or empty); returns its path."""
        owner, name, _ = _split(owner_model)
        method, path = route("exportFeedback", {"owner": owner, "model": name})
        url = self.url + path + _query(version=version, rating=rating, **{"from": from_}, to=to)
        target = os.path.abspath(os.fspath(directory))
        if os.path.isdir(target) and os.listdir(target):
            raise ValueError(f"{target} is not empty")
        req = urllib.request.Request(url, method=method)
        if self.token:
            req.add_header("Authorization", f"Bearer {self.token}")
        try:
            with urllib.request.urlopen(req, timeout=self.timeout) as resp:
                archive = io.BytesIO(resp.read())
        except urllib.error.HTTPError as exc:
            raise _api_error(exc, method, url) from None
        except urllib.error.URLError as exc:
            raise ServerUnreachable(f"{method} {url}: cannot reach the server: {exc.reason}") from None
        os.makedirs(target, exist_ok=True)
        with zipfile.ZipFile(archive) as zf:
            for member in zf.namelist():
                dest = os.path.abspath(os.path.join(target, member))
                if os.path.commonpath([dest, target]) != target:
                    raise ValueError(f"the export holds a path outside the directory: {member!r}")
            zf.extractall(target)
        return target

    def delete_feedback(self, feedback_id: str) -> None:
        """`DELETE /api/feedback/{id}`: yours, or feedback on your model."""
        self.call("deleteFeedback", {"id": feedback_id})

    def delete_run(self, run_id: str) -> None:
        """`DELETE /api/runs/{id}`: the run with its inputs and outputs (feedback given on it stays)."""
        self.call("deleteRun", {"runId": run_id})

    def usage(self, *, user: str | None = None, team: str | None = None, anonymous: bool = False, from_: str | None = None,
              to: str | None = None) -> dict[str, Any]:
        """`GET /api/usage`: steps, seconds, GPU seconds and cost by day, profile and model, with the quotas.

        Your own by default; `user=` (admins), `team=` (its members, admins) or `anonymous=True` (all anonymous visitors
        together, admins)."""
        method, path = route("getUsage", {})
        return self.request(method, path + _query(user=user, team=team, anonymous="true" if anonymous else None,
                                                  **{"from": from_}, to=to))[1]

    def monitoring(self, owner_model: str, version: int | None = None, reference: str | None = None) -> dict[str, Any]:
        """`GET /api/models/{owner}/{model}/monitoring` (owner and team): drift statistics of a version.

        `reference`: what the drift score compares with: the version's first runs (default, `"runs"`) or a dataset of
        the model's task, `"OWNER/NAME"` or `"OWNER/NAME@VERSION"`."""
        owner, name, _ = _split(owner_model)
        method, path = route("getMonitoring", {"owner": owner, "model": name})
        return self.request(method, path + _query(version=version, reference=reference))[1]

    # ---- binary payloads ----------------------------------------------------------------------

    @staticmethod
    def file(path: str | os.PathLike[str], name: str | None = None, media_type: str | None = None) -> LocalFile:
        """A local file for a step's responses. Submitted to a run, it is streamed to the server first
        (`POST /api/runs/{id}/files`, never read whole) and sent as a reference; in `execute` (no run yet) it
        travels inline as base64, for small files."""
        name = name or os.path.basename(os.fspath(path))
        return LocalFile(os.fspath(path), name, media_type or guess_media_type(name))

    def check_files(self, files: list[LocalFile]) -> None:
        """Refuses (ValueError naming the limit) files past the server's limits before any byte is sent."""
        limits = self.limits()
        total = 0
        for f in files:
            size = f.size
            if size > limits["maxStepFileBytes"]:
                raise ValueError(f"{f.name}: {size} bytes is more than {limits['maxStepFileBytes']} bytes, the most a step "
                                 "file may have on this server (maxStepFileBytes, FEATHER_MAX_STEP_FILE_BYTES)")
            total += size
        if total > limits["maxStepBytes"]:
            raise ValueError(f"the step's files add up to {total} bytes, more than {limits['maxStepBytes']} bytes, the most one "
                             "step may take on this server (maxStepBytes, FEATHER_MAX_STEP_BYTES)")

    def upload(self, run_id: str, file: LocalFile) -> dict[str, Any]:
        """Streams one local file into a run: `POST /api/runs/{id}/files`; returns the reference a response names it by."""
        method, path = route("uploadRunFile", {"runId": run_id})
        url = self.url + path + "?" + urllib.parse.urlencode({"name": file.name})
        with open(file.path, "rb") as body:
            req = urllib.request.Request(url, data=body, method=method)
            req.add_header("Content-Type", file.media_type)
            req.add_header("Content-Length", str(file.size))
            req.add_header("Accept", "application/json")
            if self.token:
                req.add_header("Authorization", f"Bearer {self.token}")
            try:
                with urllib.request.urlopen(req, timeout=max(self.timeout, 600)) as resp:
                    answer = json.loads(resp.read())
            except urllib.error.HTTPError as exc:
                raise _api_error(exc, method, url) from None
            except urllib.error.URLError as exc:
                raise ServerUnreachable(f"{method} {url}: cannot reach the server: {exc.reason}") from None
        return {"name": file.name, "media_type": file.media_type, "file": answer["id"]}

    @_client_or_class
    def download(self: Client | None, blob: dict[str, Any], directory: str | os.PathLike[str] = ".",
                 name: str | None = None) -> str:
        """Streams a file an output names (`{"file", "url"}`) into `directory` under its own name (no path parts,
        or `name`); inline `data` is written as it is. Returns the path. Called on the class
        (`Client.download(blob)`), it writes inline data only: a file by URL needs a client (its server and token)."""
        target = os.path.join(os.fspath(directory), _safe_name(name or str(blob["name"])))
        if "data" in blob:
            with open(target, "wb") as fh:
                fh.write(base64.b64decode(blob["data"], validate=True))
            return target
        url, req = _file_request(self, blob)
        try:
            with urllib.request.urlopen(req, timeout=max(self.timeout, 600)) as resp, open(target + ".part", "wb") as fh:  # type: ignore[union-attr]
                while chunk := resp.read(1 << 20):
                    fh.write(chunk)
        except urllib.error.HTTPError as exc:
            raise _api_error(exc, "GET", url) from None
        except urllib.error.URLError as exc:
            raise ServerUnreachable(f"GET {url}: cannot reach the server: {exc.reason}") from None
        os.replace(target + ".part", target)
        return target

    @_client_or_class
    def data(self: Client | None, blob: dict[str, Any]) -> bytes:
        """The bytes of a binary payload found in an output (an image, a document, a file), in memory: for small
        files; `download()` streams large ones to disk. `Client.data(blob)` (on the class, as before step files)
        still decodes inline data; a file by URL needs a client: `client.data(blob)`."""
        if "data" in blob:
            return base64.b64decode(blob["data"], validate=True)
        url, req = _file_request(self, blob)
        try:
            with urllib.request.urlopen(req, timeout=max(self.timeout, 600)) as resp:  # type: ignore[union-attr]
                return resp.read()
        except urllib.error.HTTPError as exc:
            raise _api_error(exc, "GET", url) from None
        except urllib.error.URLError as exc:
            raise ServerUnreachable(f"GET {url}: cannot reach the server: {exc.reason}") from None

    @_client_or_class
    def save(self: Client | None, blob: dict[str, Any], directory: str | os.PathLike[str] = ".") -> str:
        """Writes a binary payload into `directory` under its own name (no path parts); returns the path.
        `client.save(blob)` = `client.download(blob)`; `Client.save(blob)` on the class writes inline data only."""
        return Client.__dict__["download"].fn(self, blob, directory)


class LocalFile:
    """A local file named in a step's responses (`Client.file(path)`): streamed to the run before the step is submitted."""

    def __init__(self, path: str, name: str, media_type: str) -> None:
        self.path, self.name, self.media_type = path, name, media_type

    @property
    def size(self) -> int:
        return os.path.getsize(self.path)

    def payload(self) -> dict[str, str]:
        """The file inline, {"name", "media_type", "data": base64}: read whole, for small files."""
        with open(self.path, "rb") as fh:
            data = fh.read()
        return {"name": self.name, "media_type": self.media_type, "data": base64.b64encode(data).decode("ascii")}

    def __getitem__(self, key: str) -> str:
        return self.payload()[key] if key == "data" else {"name": self.name, "media_type": self.media_type}[key]

    def __repr__(self) -> str:
        return f"LocalFile({self.path!r}, name={self.name!r}, media_type={self.media_type!r})"


def _local_files(value: Any) -> list[LocalFile]:
    if isinstance(value, LocalFile):
        return [value]
    if isinstance(value, dict):
        return [f for v in value.values() for f in _local_files(v)]
    if isinstance(value, (list, tuple)):
        return [f for v in value for f in _local_files(v)]
    return []


def _replace_files(value: Any, replace: Any) -> Any:
    if isinstance(value, LocalFile):
        return replace(value)
    if isinstance(value, dict):
        return {k: _replace_files(v, replace) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_replace_files(v, replace) for v in value]
    return value


def _safe_name(name: str) -> str:
    clean = os.path.basename(name.replace("\\", "/"))
    if clean in ("", ".", ".."):
        raise ValueError(f"cannot save a file named {name!r}")
    return clean


class Run:
    """A run on the server: a multi-step session pinned to one version. `steps` holds the steps as
    last seen (refresh() fetches them again)."""

    def __init__(self, client: Client, body: dict[str, Any]) -> None:
        self.client = client
        self._lock = threading.Lock()
        self._update(body)

    def _update(self, body: dict[str, Any]) -> None:
        with self._lock:
            self.id: str = str(body["id"])
            self.owner: str | None = body.get("owner")
            self.model: str | None = body.get("model")
            self.version: Any = body.get("version")
            self.steps: list[dict[str, Any]] = list(body.get("steps") or [])
            self.complete: bool = bool(body.get("complete"))
            self.body = body

    @property
    def path(self) -> list[str]:
        """The names of the steps on the run's path so far, in order (as last seen)."""
        with self._lock:
            return [str(s.get("name")) for s in self.steps]

    def offered(self) -> tuple[int, list[str], bool]:
        """Where the run goes on (as last seen): (the path position to submit next, the steps that may run there,
        the model's choice first, and whether the run may end instead). A run whose step has not succeeded yet
        offers that step again at its own position."""
        with self._lock:
            steps = list(self.steps)
        for k, s in enumerate(steps):
            if s.get("status") != "succeeded":
                if k == 0:
                    return 0, [str(s.get("name"))], False
                before = steps[k - 1]
                return k, list(before.get("next") or [s.get("name")]), bool(before.get("ends"))
        if not steps:
            return 0, [], False
        last = steps[-1]
        return len(steps), list(last.get("next") or []), bool(last.get("ends"))

    def advance(self, responses: dict[str, Any] | None = None, step: str | None = None,
                timeout: float | None = None) -> list[dict[str, Any]]:
        """Runs the next step on the path and waits for it: `step` names one of those the previous step offers
        (default: the model's choice). Raises ApiError 409 when the run offers nothing more."""
        self.refresh()
        index, names, ends = self.offered()
        if not names:
            raise ApiError(409, "nothing comes next", f"run {self.id} has ended" if ends else f"run {self.id} offers no step")
        outputs = self.submit(index, responses, step=step).result(timeout)
        self.refresh()
        return outputs

    def __repr__(self) -> str:
        return f"Run({self.id!r}, {self.owner}/{self.model}@{self.version})"

    def refresh(self) -> Run:
        """`GET /api/runs/{id}`."""
        self._update(self.client.call("getRun", {"runId": self.id})[1])
        return self

    def step_state(self, index: int) -> dict[str, Any]:
        """The step as last seen (call refresh() first for fresh news)."""
        with self._lock:
            for step in self.steps:
                if step.get("index") == index:
                    return step
        raise ApiError(0, f"the run {self.id} has no step {index}", f"it has {len(self.steps)} step(s)")

    def submit(self, index: int, responses: dict[str, Any] | None = None, *, wait: float = 0,
               step: str | None = None) -> StepHandle:
        """Submits the responses of the step at position `index` of the path and returns at once (or after at most
        `wait` seconds, sent as `Prefer: wait=N`, when the server finishes the step sooner). `step` names which of
        the steps the previous one offers runs there (a model with branches or loops; default: the one there)."""
        if not isinstance(responses, (dict, type(None))):
            raise TypeError("responses must be a dict keyed by input name, e.g. {'name': {'texts': ['Ada']}}")
        files = _local_files(responses)
        if files:  # streamed into the run first, then named by reference
            self.client.check_files(files)
            uploaded: dict[int, dict[str, Any]] = {}
            responses = _replace_files(responses, lambda f: uploaded.setdefault(id(f), self.client.upload(self.id, f)))
        body: dict[str, Any] = {"responses": responses or {}}
        if step is not None:
            body["step"] = step
        _, state = self.client.call("submitStep", {"runId": self.id, "index": int(index)}, body, _prefer(wait))
        return StepHandle(self, int(index), state)

    def responses(self, index: int) -> dict[str, Any]:
        """`GET /api/runs/{id}/steps/{index}/responses`: the responses last submitted for step `index`."""
        return self.client.call("getStepResponses", {"runId": self.id, "index": int(index)})[1]

    def step(self, index: int, responses: dict[str, Any] | None = None, timeout: float | None = None,
             step: str | None = None) -> list[dict[str, Any]]:
        """Runs step `index` and waits for it: `submit(index, responses, step=step).result(timeout)`."""
        return self.submit(index, responses, step=step).result(timeout)

    def feedback(self, index: int, output: str, **kwargs: Any) -> dict[str, Any]:
        """Feedback on output `output` of step `index` of this run: `Client.feedback` (item, correct,
        label, label_item, comment). Shares that step's inputs and outputs with the model's owner."""
        return self.client.feedback(self.id, index, output, **kwargs)

    def cancel(self, index: int | None = None) -> dict[str, Any]:
        """`DELETE /api/runs/{id}/steps/{index}`: the queued or running step (step `index`, or the
        one that is queued or running now) becomes cancelled. Returns the step as the server answers
        it (status `cancelled`, or still `running` while its container stops). Raises ApiError 409
        when no step is queued or running."""
        if index is None:
            self.refresh()
            with self._lock:
                active = [s["index"] for s in self.steps if s.get("status") in PENDING]
            if not active:
                raise ApiError(409, "nothing to cancel", f"run {self.id} has no queued or running step")
            index = active[0]
        _, step = self.client.call("cancelStep", {"runId": self.id, "index": int(index)})
        self.refresh()
        return step


class StepHandle:
    """A submitted step. `result()` waits for it; `events()` follows it; `state` is the step as
    last seen (`{"index", "status", "outputs", "error", "logs", "startedAt", "endedAt"}`)."""

    def __init__(self, run: Run, index: int, state: dict[str, Any] | None) -> None:
        self.run = run
        self.index = index
        self.state: dict[str, Any] = state or {"index": index, "status": "queued"}

    def __repr__(self) -> str:
        return f"StepHandle(run={self.run.id!r}, index={self.index}, status={self.status!r})"

    @property
    def status(self) -> str:
        return str(self.state.get("status"))

    @property
    def logs(self) -> str:
        return _logs(self.state)

    def done(self) -> bool:
        """Polls once unless the step has already ended; True once it has."""
        if self.state.get("status") in PENDING:
            self.poll()
        return self.state.get("status") not in PENDING

    def cancel(self) -> dict[str, Any]:
        """Cancels this step while it is queued or running: `run.cancel(index)`."""
        self.state = self.run.cancel(self.index)
        return self.state

    def poll(self) -> dict[str, Any]:
        """One `GET /api/runs/{id}`; returns the step's state."""
        self.state = self.run.refresh().step_state(self.index)
        return self.state

    def events(self, timeout: float | None = None) -> Iterator[dict[str, Any]]:
        """Follows the step through the server's event stream (`GET .../steps/{k}/events`,
        server-sent events pushed as the step changes): yields {"type": "status", "status"} on
        each change, {"type": "log", "text"} with each new piece of the log, and last
        {"type": "result", "step": state}. Raises TimeoutError when `timeout` seconds pass first."""
        deadline = None if timeout is None else time.monotonic() + timeout
        status = None
        if self.state.get("status") not in PENDING and "outputs" in self.state:
            yield {"type": "status", "status": self.status}
            yield {"type": "result", "step": self.state}
            return
        for kind, data in self._stream(deadline):
            if kind == "log":
                yield {"type": "log", "text": data.get("text", "")}
                continue
            if kind not in ("status", "result"):
                continue
            self.state = data
            if data.get("status") != status:
                status = data.get("status")
                yield {"type": "status", "status": status}
            if kind == "result":
                yield {"type": "result", "step": data}
                return
        # the stream ended without a result (a server stopping): the step as it is now
        self.poll()
        if self.state.get("status") in PENDING:
            raise ServerUnreachable(f"the event stream of step {self.index} of run {self.run.id} ended early")
        yield {"type": "result", "step": self.state}

    def _stream(self, deadline: float | None) -> Iterator[tuple[str, dict[str, Any]]]:
        """The (event, data) pairs of the step's server-sent events, until the server closes the stream."""
        client = self.run.client
        method, path = route("stepEvents", {"runId": self.run.id, "index": self.index})
        url = client.url + path
        req = urllib.request.Request(url, method=method)
        req.add_header("Accept", "text/event-stream")
        if client.token:
            req.add_header("Authorization", f"Bearer {client.token}")
        remaining = None if deadline is None else max(0.001, deadline - time.monotonic())
        try:
            # no deadline: the stream may be quiet for as long as the step runs
            resp = urllib.request.urlopen(req, timeout=remaining)
        except urllib.error.HTTPError as exc:
            raise _api_error(exc, method, url) from None
        except urllib.error.URLError as exc:
            if isinstance(exc.reason, TimeoutError):
                raise TimeoutError(f"step {self.index} of run {self.run.id} still {self.status} after the timeout") from None
            raise ServerUnreachable(f"{method} {url}: cannot reach the server: {exc.reason}") from None
        with resp:
            kind, data = "message", []
            while True:
                if deadline is not None:
                    left = deadline - time.monotonic()
                    if left <= 0:
                        raise TimeoutError(f"step {self.index} of run {self.run.id} still {self.status} after the timeout")
                    _read_timeout(resp, left)
                try:
                    line = resp.readline()
                except TimeoutError:
                    raise TimeoutError(f"step {self.index} of run {self.run.id} still {self.status} after the timeout") from None
                if not line:
                    return
                text = line.decode("utf-8").rstrip("\r\n")
                if text == "":
                    if data:
                        yield kind, json.loads("\n".join(data))
                    kind, data = "message", []
                elif text.startswith("event:"):
                    kind = text[6:].strip()
                elif text.startswith("data:"):
                    data.append(text[5:].lstrip(" ") if text[5:6] == " " else text[5:])

    def result(self, timeout: float | None = None) -> list[dict[str, Any]]:
        """Waits for the step to end and returns its outputs (the runtime's outputs list:
        [{"name", "component", "version", "props", "value"}, ...]). Raises InvalidInput or
        StepFailed when it ends badly, TimeoutError when `timeout` seconds pass first."""
        for event in self.events(timeout):
            if event["type"] == "result":
                _raise_if_bad(event["step"], self.run.id)
                return list(event["step"].get("outputs") or [])
        raise AssertionError("events() ends with a result")  # pragma: no cover


#: The terminal states of a fine-tune job (Feather.Contracts FinetuneStatus).
FINETUNE_TERMINAL = frozenset(("succeeded", "failed", "cancelled"))


def _api_error(exc: urllib.error.HTTPError, method: str, url: str) -> ApiError:
    raw = b""
    try:
        raw = exc.read()
    except OSError:
        pass
    title, detail, errors = exc.reason or "HTTP error", None, None
    try:
        body = json.loads(raw) if raw.strip() else None
    except ValueError:
        body = None
    if isinstance(body, dict):
        title = str(body.get("title") or title)
        detail = body.get("detail")
        errors = body.get("errors")
    elif raw.strip():
        detail = raw.decode("utf-8", "replace")[:500]
    return ApiError(exc.code, str(title), detail, errors, method, url)


def _read_timeout(resp: Any, seconds: float) -> None:
    """Bounds the next read of an open response to `seconds` (the socket under http.client's reader)."""
    sock = getattr(getattr(getattr(resp, "fp", None), "raw", None), "_sock", None)
    if sock is not None:
        sock.settimeout(seconds)


def route(operation: str, params: dict[str, Any]) -> tuple[str, str]:
    """(method, path) of an operation of the server's contract, its parameters filled in and escaped."""
    try:
        method, template = _contract.ROUTES[operation]
    except KeyError:
        raise ValueError(f"no operation {operation!r} in the server's contract") from None
    missing = [name for name in _params(template) if name not in params]
    if missing:
        raise ValueError(f"{operation} needs {', '.join(missing)}")
    path = template
    for name in _params(template):
        path = path.replace("{" + name + "}", _q(params[name]))
    return method, path


def _params(template: str) -> list[str]:
    return [part.split("}", 1)[0] for part in template.split("{")[1:]]


def _prefer(wait: float) -> dict[str, str] | None:
    return {"Prefer": f"wait={int(wait)}"} if wait and wait >= 1 else None


def _split(owner_model: str) -> tuple[str, str, str | None]:
    """"ada/vqg@3" -> ("ada", "vqg", "3")."""
    ref, has_at, at = owner_model.partition("@")
    owner, _, name = ref.partition("/")
    if not owner or not name or "/" in name or (has_at and not at):
        raise ValueError(f"expected OWNER/MODEL or OWNER/MODEL@VERSION, got {owner_model!r}")
    return owner, name, at or None


def _query(**params: Any) -> str:
    """A query string of the parameters that are not None ("" when none are)."""
    kept = {k: str(v) for k, v in params.items() if v is not None}
    return "?" + urllib.parse.urlencode(kept) if kept else ""


def _q(segment: str) -> str:
    return urllib.parse.quote(str(segment), safe="")
