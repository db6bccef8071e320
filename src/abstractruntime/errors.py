"""The exception tree of AbstractRuntime.

Every error the library raises on purpose derives from :class:`AbstractRuntimeError` and carries the
context it is about as attributes (``run_id``, ``node_id``, ``wait_key`` ...), so callers can react
without parsing messages.  Where the specification says the documented behaviour raises a builtin
(``KeyError``, ``ValueError``, ``TypeError``, ``RuntimeError``), the error here subclasses that builtin
as well, so ``except KeyError`` written against the documented API keeps working::

    AbstractRuntimeError
    ├── RunNotFoundError              (KeyError)     unknown run id
    ├── UnknownNodeError              (KeyError)     node id missing from a WorkflowSpec
    ├── WorkflowNotRegisteredError    (KeyError)     workflow id missing from a registry
    ├── WorkflowAlreadyRegisteredError (ValueError)  workflow id registered twice
    ├── InvalidStepPlanError          (ValueError)   a node returned neither effect nor next node
    ├── ResumeError                   (ValueError)   a resume that cannot be applied
    │   ├── RunPausedError                           the run is paused
    │   ├── RunNotWaitingError                       the run is not waiting
    │   └── WaitKeyMismatchError                     the wait key does not match
    ├── InvalidEventKeyError          (ValueError)   bad event scope/name for a wait key
    ├── VarsPathError                 (ValueError)   a vars path that does not parse or resolve
    ├── HostOwnedVarError             (PermissionError) a flow tried to write a host-owned var
    ├── NotJsonSafeError              (TypeError)    a value that cannot be stored as JSON
    ├── CorruptRunError               (ValueError)   stored run/ledger data that cannot be decoded
    ├── InvalidRecordError            (ValueError)   a record a store refuses (for example no run_id)
    ├── InvalidArtifactIdError        (ValueError)   an artifact/blob id unsafe as a file name
    ├── CorruptArtifactError          (ValueError)   stored artifact metadata that cannot be decoded
    ├── CyclicValueError              (ValueError)   a value that contains itself (offloading)
    ├── ConcurrencyError              (RuntimeError) a save from a stale copy of a run
    │   └── LeaseLostError                           a write fenced by a lease its writer no longer holds
    ├── CapabilityError               (RuntimeError) a store or service lacks what a call needs
    ├── StoreUnavailableError         (ConnectionError) a database server that cannot be reached
    ├── CodeLimitExceededError        (RuntimeError) a code node hit a host limit (cpu, memory, wall...)
    ├── CodeLimitConfigError          (ValueError)   a code-node limit the host configured is invalid
    ├── MissingExtraError             (ImportError)  an optional dependency is not installed
    └── LLMCallError                  (RuntimeError) an LLM server call failed (``status``, ``retryable``)
        ├── LLMAuthError                             HTTP 401/403: bad or missing credentials
        ├── LLMNotFoundError                         HTTP 404: unknown model or endpoint
        ├── LLMRateLimitError                        HTTP 429 (retryable; ``retry_after_s``)
        ├── LLMServerError                           HTTP 5xx (retryable; ``retry_after_s`` when sent)
        ├── LLMConnectionError                       refused, reset or timed out (retryable; ``timed_out``)
        ├── LLMResponseError                         a 2xx answer that is not a chat completion
        └── MediaInputError                          LLM_CALL media that cannot be sent (not retryable)
            ├── MediaNotFoundError                   a missing artifact or file
            └── MediaTooLargeError                   media over the size limit (``size_bytes``, ``limit_bytes``)

KeyError subclasses keep the builtin ``str()`` (the message is quoted), exactly like the ``KeyError``
the specification documents.
"""

from __future__ import annotations

__all__ = [
    "AbstractRuntimeError",
    "CapabilityError",
    "CodeLimitConfigError",
    "CodeLimitExceededError",
    "ConcurrencyError",
    "CorruptArtifactError",
    "CorruptRunError",
    "CyclicValueError",
    "HostOwnedVarError",
    "InvalidArtifactIdError",
    "InvalidEventKeyError",
    "InvalidRecordError",
    "InvalidResumePayloadError",
    "InvalidStepPlanError",
    "LeaseLostError",
    "LLMAuthError",
    "LLMCallError",
    "LLMConnectionError",
    "LLMNotFoundError",
    "LLMRateLimitError",
    "LLMResponseError",
    "MediaInputError",
    "MediaNotFoundError",
    "MediaTooLargeError",
    "LLMServerError",
    "MissingExtraError",
    "NotJsonSafeError",
    "ResumeError",
    "RewindError",
    "RunNotFoundError",
    "RunNotWaitingError",
    "RunPausedError",
    "StoreUnavailableError",
    "UnknownNodeError",
    "VarsPathError",
    "WaitKeyMismatchError",
    "WorkflowAlreadyRegisteredError",
    "WorkflowNotRegisteredError",
]


class AbstractRuntimeError(Exception):
    """Root of every error raised on purpose by AbstractRuntime.

    Attributes:
        run_id: the run the error is about, or None when it concerns no single run.
    """

    run_id: str | None

    def __init__(self, message: str, *, run_id: str | None = None) -> None:
        super().__init__(message)
        self.run_id = run_id


class RunNotFoundError(AbstractRuntimeError, KeyError):
    """No run with this id exists in the run store (SPEC §4.3 step 1, §4.8)."""

    def __init__(self, run_id: str) -> None:
        super().__init__(f"Unknown run_id: {run_id}", run_id=run_id)


class UnknownNodeError(AbstractRuntimeError, KeyError):
    """A WorkflowSpec has no handler for ``node_id`` (SPEC §3)."""

    def __init__(self, *, workflow_id: str, node_id: str, run_id: str | None = None) -> None:
        super().__init__(f"Unknown node_id '{node_id}' in workflow '{workflow_id}'", run_id=run_id)
        self.workflow_id = workflow_id
        self.node_id = node_id


class WorkflowNotRegisteredError(AbstractRuntimeError, KeyError):
    """A workflow registry has no spec for ``workflow_id`` (SPEC §8.1)."""

    def __init__(self, workflow_id: str, *, run_id: str | None = None) -> None:
        super().__init__(f"Workflow '{workflow_id}' is not registered", run_id=run_id)
        self.workflow_id = workflow_id


class WorkflowAlreadyRegisteredError(AbstractRuntimeError, ValueError):
    """A workflow registry already holds a spec under ``workflow_id`` (SPEC §8.1 ``register``)."""

    def __init__(self, workflow_id: str) -> None:
        super().__init__(f"Workflow '{workflow_id}' is already registered")
        self.workflow_id = workflow_id


class InvalidStepPlanError(AbstractRuntimeError, ValueError):
    """A node handler returned a StepPlan the runtime cannot follow (SPEC §4.3 d)."""

    def __init__(self, message: str, *, node_id: str, run_id: str | None = None) -> None:
        super().__init__(message, run_id=run_id)
        self.node_id = node_id


class ResumeError(AbstractRuntimeError, ValueError):
    """``Runtime.resume`` cannot be applied to the run in its current state (SPEC §4.6 step 1)."""


class RewindError(AbstractRuntimeError, ValueError):
    """``Runtime.retry_run``/``fork_run`` cannot do what was asked: a run with nothing to retry, a
    ``at_seq`` outside the ledger, missing start vars or workflow (``core/rewind.py``)."""


class RunPausedError(ResumeError):
    """The run is paused; ``resume_run`` must lift the pause first."""

    def __init__(self, run_id: str) -> None:
        super().__init__("Run is paused", run_id=run_id)


class RunNotWaitingError(ResumeError):
    """The run is not WAITING (or has no wait state), so there is nothing to resume."""

    def __init__(self, run_id: str, *, status: str | None = None) -> None:
        super().__init__("Run is not waiting", run_id=run_id)
        self.status = status


class WaitKeyMismatchError(ResumeError):
    """The resume names a wait key other than the one the run waits on."""

    def __init__(self, *, run_id: str, expected: str, got: str) -> None:
        super().__init__(f"wait_key mismatch: expected '{expected}', got '{got}'", run_id=run_id)
        self.expected = expected
        self.got = got
        self.wait_key = got


class InvalidResumePayloadError(ResumeError):
    """The resume payload has a shape the wait cannot accept (SPEC §4.6), e.g. argument edits of an
    approval that name an unknown call or are not JSON objects.  Nothing was applied or claimed.

    Attributes:
        field: the payload key at fault (``"arguments"``, ...).
    """

    def __init__(self, message: str, *, run_id: str | None = None, field: str | None = None) -> None:
        super().__init__(message, run_id=run_id)
        self.field = field


class InvalidEventKeyError(AbstractRuntimeError, ValueError):
    """An event scope, scope id or name cannot form a wait key (SPEC §4.11)."""

    def __init__(self, message: str, *, scope: str | None = None, name: str | None = None) -> None:
        super().__init__(message)
        self.scope = scope
        self.name = name


class VarsPathError(AbstractRuntimeError, ValueError):
    """A vars path that does not parse, or does not resolve against a value (SPEC §5.1)."""

    def __init__(self, message: str, *, path: str | None = None) -> None:
        super().__init__(message)
        self.path = path


class HostOwnedVarError(AbstractRuntimeError, PermissionError):
    """Untrusted flow content tried to write a host-owned var (``_runtime``, the workspace policy).

    Raised when a VisualFlow node (``set_var``, a code node's ``outputKey``, a start pin default, a
    subflow or agent input) writes a path the host owns, or when a child workflow would get a wider
    workspace policy than its parent.  The run fails with this error; nothing is written.

    Attributes:
        path: the dotted vars path that was refused, such as ``_runtime.cli_target``.
    """

    def __init__(self, message: str, *, path: str, run_id: str | None = None) -> None:
        super().__init__(message, run_id=run_id)
        self.path = path


class NotJsonSafeError(AbstractRuntimeError, TypeError):
    """A value headed for durable storage is not JSON-safe (SPEC §2.3 JSON invariant).

    Attributes:
        path: where the offending value sits, such as ``vars.scratchpad.client``.
        type_name: the Python type that cannot be stored.
    """

    def __init__(self, *, path: str, type_name: str, run_id: str | None = None) -> None:
        where = f" of run {run_id}" if run_id else ""
        super().__init__(
            f"Value at '{path}'{where} is not JSON-safe ({type_name}); "
            "vars, effect payloads and results must hold only dict, list, str, int, float, bool and None",
            run_id=run_id,
        )
        self.path = path
        self.type_name = type_name


class CorruptRunError(AbstractRuntimeError, ValueError):
    """Stored data for a run cannot be decoded into a RunState or ledger record.

    Attributes:
        location: the file path or table row the bad data came from.
    """

    def __init__(self, message: str, *, run_id: str | None = None, location: str | None = None) -> None:
        super().__init__(message, run_id=run_id)
        self.location = location


class InvalidRecordError(AbstractRuntimeError, ValueError):
    """A store refuses a record or command as given (an empty ``run_id``, a missing type...)."""


class InvalidArtifactIdError(AbstractRuntimeError, ValueError):
    """An artifact or blob id that does not match ``^[a-zA-Z0-9_-]+$`` (SPEC §7.6).

    File-backed artifact stores form file names from ids, so anything else (``../x``, ``a/b``, an
    empty string) is refused as a path-traversal guard.

    Attributes:
        artifact_id: the refused id (as given, possibly not a str).
    """

    def __init__(self, artifact_id: object, *, run_id: str | None = None) -> None:
        if artifact_id is None or artifact_id == "":
            message = "Invalid artifact_id: artifact_id cannot be empty"
        else:
            message = f"Invalid artifact_id {artifact_id!r}: only letters, digits, '_' and '-' are allowed"
        super().__init__(message, run_id=run_id)
        self.artifact_id = artifact_id


class CorruptArtifactError(AbstractRuntimeError, ValueError):
    """Stored artifact metadata cannot be decoded into an ``ArtifactMetadata`` (SPEC §7.6).

    Attributes:
        location: the file the bad data came from, when known.
    """

    def __init__(self, message: str, *, location: str | None = None) -> None:
        super().__init__(message)
        self.location = location


class CyclicValueError(AbstractRuntimeError, ValueError):
    """A value to offload contains itself, so it has no JSON form (SPEC §7.8).

    Attributes:
        path: where the cycle closes, such as ``vars._temp.node``.
    """

    def __init__(self, *, path: str, run_id: str | None = None) -> None:
        super().__init__(f"Value at '{path or '<root>'}' contains a reference cycle", run_id=run_id)
        self.path = path


class ConcurrencyError(AbstractRuntimeError, RuntimeError):
    """A save was made from a stale copy of a run: another writer committed first.

    Nothing was written.  Reload the run and decide again.

    Attributes:
        expected_revision: the revision the writer started from (None: the run was new to it).
        actual_revision: the revision found in the store (None: the run does not exist).
    """

    def __init__(self, *, run_id: str, expected_revision: int | None, actual_revision: int | None) -> None:
        super().__init__(
            f"Run {run_id} was changed by another writer "
            f"(expected revision {expected_revision}, found {actual_revision})",
            run_id=run_id,
        )
        self.expected_revision = expected_revision
        self.actual_revision = actual_revision


class LeaseLostError(ConcurrencyError):
    """A write fenced by a run lease was refused: the writer's lease lapsed or another owner took the
    run over (a higher ``generation``).  Nothing was written; the writer must stop driving the run.

    Attributes:
        owner: the writer's owner id.
        generation: the lease generation the writer held.
        found_owner: the owner stored now (None: released or no lease row).
        found_generation: the generation stored now (None: no lease row).
    """

    def __init__(
        self,
        *,
        run_id: str,
        owner: str,
        generation: int,
        found_owner: str | None,
        found_generation: int | None,
        expired: bool = False,
    ) -> None:
        AbstractRuntimeError.__init__(
            self,
            f"Run {run_id}: lease of {owner} (generation {generation}) "
            + ("has expired" if expired else f"was lost to {found_owner} (generation {found_generation})"),
            run_id=run_id,
        )
        self.expected_revision = None
        self.actual_revision = None
        self.owner = owner
        self.generation = generation
        self.found_owner = found_owner
        self.found_generation = found_generation
        self.expired = expired


class CapabilityError(AbstractRuntimeError, RuntimeError):
    """A store or service lacks a capability the call needs (for example ``subscribe``)."""


class StoreUnavailableError(AbstractRuntimeError, ConnectionError):
    """A store's database server cannot be reached (refused, unknown host, timed out, bad login).

    Attributes:
        location: where the store is (a URL without its password).
    """

    def __init__(self, message: str, *, location: str) -> None:
        super().__init__(message)
        self.location = location


class MissingExtraError(AbstractRuntimeError, ImportError):
    """An optional dependency is not installed; ``extra`` names the pip extra that provides it."""

    def __init__(self, *, feature: str, extra: str, module: str) -> None:
        super().__init__(
            f"{feature} needs the optional dependency '{module}'. "
            f"Install it with: pip install 'AbstractRuntime[{extra}]'"
        )
        self.feature = feature
        self.extra = extra
        self.module = module


# ------------------------------------------------------------------------------- code-node resource limits
class CodeLimitExceededError(AbstractRuntimeError, RuntimeError):
    """Code from a flow (a VisualFlow ``code`` node or expression) hit a host-decided resource limit.

    The code ran in a child process under OS limits; the child was stopped (or refused the work) and the
    host process is unaffected.

    Attributes:
        limit: which limit: ``cpu`` (CPU seconds), ``memory`` (address space, MB), ``wall`` (wall-clock
            seconds), ``steps`` (traced lines/calls), ``time`` (the in-process time budget, seconds) or
            ``output`` (size of the JSON result, MB).
        limit_value: the limit in the unit above, when known.
        node_id: the node that ran the code, when known.
    """

    def __init__(
        self,
        message: str,
        *,
        limit: str,
        limit_value: float | None = None,
        node_id: str | None = None,
        run_id: str | None = None,
    ) -> None:
        super().__init__(message, run_id=run_id)
        self.limit = limit
        self.limit_value = limit_value
        self.node_id = node_id


class CodeLimitConfigError(AbstractRuntimeError, ValueError):
    """A host setting for code-node limits is invalid (for example ``ABSTRACTRUNTIME_CODE_CPU_SECONDS=abc``).

    Attributes:
        setting: the environment variable or field name.
        value: the rejected value, as given.
    """

    def __init__(self, message: str, *, setting: str, value: object) -> None:
        super().__init__(message)
        self.setting = setting
        self.value = value


# ------------------------------------------------------------------------------------------ LLM server calls
class LLMCallError(AbstractRuntimeError, RuntimeError):
    """A call to an LLM server failed (``integrations.abstractcore.llm_client``).

    Attributes:
        status: the HTTP status code, or None when no response arrived (connection refused, timeout).
        retryable: True when trying again later may succeed (429, 5xx, connection problems); the LLM_CALL
            handler then lets the runtime's effect policy retry it, otherwise the effect fails at once.
        url: the URL that was called, when known.
        retry_after_s: the server's ``Retry-After`` in seconds (429/503), when it sent one; the effect
            policy waits at least that long before the next attempt (capped, SPEC §6).
    """

    default_retryable = False

    def __init__(
        self,
        message: str,
        *,
        status: int | None = None,
        retryable: bool | None = None,
        url: str | None = None,
        run_id: str | None = None,
        retry_after_s: float | None = None,
    ) -> None:
        super().__init__(message, run_id=run_id)
        self.status = status
        self.retryable = self.default_retryable if retryable is None else retryable
        self.url = url
        self.retry_after_s = retry_after_s


class LLMAuthError(LLMCallError):
    """The server refused the credentials (HTTP 401 or 403); check the ``Authorization`` header or API key."""


class LLMNotFoundError(LLMCallError):
    """The server does not know the model or the endpoint (HTTP 404)."""


class LLMRateLimitError(LLMCallError):
    """The server is rate limiting (HTTP 429); ``retry_after_s`` is its ``Retry-After`` in seconds, if sent."""

    default_retryable = True

    def __init__(
        self,
        message: str,
        *,
        retry_after_s: float | None = None,
        status: int | None = 429,
        retryable: bool | None = None,
        url: str | None = None,
        run_id: str | None = None,
    ) -> None:
        super().__init__(
            message, status=status, retryable=retryable, url=url, run_id=run_id, retry_after_s=retry_after_s
        )


class LLMServerError(LLMCallError):
    """The server failed (HTTP 5xx)."""

    default_retryable = True


class LLMConnectionError(LLMCallError):
    """No response: the connection was refused or reset, or the request timed out (``timed_out``)."""

    default_retryable = True

    def __init__(
        self,
        message: str,
        *,
        timed_out: bool = False,
        retryable: bool | None = None,
        url: str | None = None,
        run_id: str | None = None,
    ) -> None:
        super().__init__(message, status=None, retryable=retryable, url=url, run_id=run_id)
        self.timed_out = timed_out


class LLMResponseError(LLMCallError):
    """The server answered 2xx with something that is not a chat completion (malformed JSON, no choices)."""


class MediaInputError(LLMCallError):
    """LLM_CALL ``media`` that cannot be resolved or sent (bad shape, unsupported type, path refused by the
    workspace policy, no artifact store); never retried."""


class MediaNotFoundError(MediaInputError):
    """A media artifact or file does not exist (``artifact_id`` or ``path`` names it)."""

    def __init__(
        self,
        message: str,
        *,
        artifact_id: str | None = None,
        path: str | None = None,
        run_id: str | None = None,
    ) -> None:
        super().__init__(message, run_id=run_id)
        self.artifact_id = artifact_id
        self.path = path


class MediaTooLargeError(MediaInputError):
    """A media input is larger than the limit (``size_bytes`` > ``limit_bytes``)."""

    def __init__(self, message: str, *, size_bytes: int, limit_bytes: int, run_id: str | None = None) -> None:
        super().__init__(message, run_id=run_id)
        self.size_bytes = size_bytes
        self.limit_bytes = limit_bytes
