"""The examples that end each command's ``--help`` (click epilogs), kept in one place."""

from __future__ import annotations

__all__ = ["EXAMPLES", "examples"]

EXAMPLES: dict[str, tuple[str, ...]] = {
    "emit": (
        "abstractruntime emit approved --scope global",
        "abstractruntime emit done --run 6a16fe06 --payload-json '{\"ok\": true}'",
    ),
    "cancel": (
        "abstractruntime cancel 6a16fe06 --reason 'no longer needed'",
        "abstractruntime cancel 6a16fe06 --children",
    ),
    "pause": ("abstractruntime pause 6a16fe06 --reason maintenance",),
    "unpause": ("abstractruntime unpause 6a16fe06",),
    "runs show": ("abstractruntime runs show 6a16fe06", "abstractruntime runs show 6a16 --json"),
    "runs recover": ("abstractruntime runs recover", "abstractruntime runs recover 6a16fe06"),
    "ledger show": ("abstractruntime ledger show 6a16fe06", "abstractruntime ledger show 6a16fe06 --follow"),
    "ledger verify": ("abstractruntime ledger verify 6a16fe06",),
    "export": (
        "abstractruntime export 6a16fe06 -o run.history.json",
        "abstractruntime export 6a16fe06 -o - --no-subruns",
    ),
    "bundle pack": ("abstractruntime bundle pack examples/flows/subflow_parent.json -o parent.flow",),
    "bundle inspect": (
        "abstractruntime bundle inspect parent.flow",
        "abstractruntime bundle inspect parent.flow --json",
    ),
    "bundle unpack": ("abstractruntime bundle unpack parent.flow parent_flows/",),
    "scheduler serve": (
        "abstractruntime scheduler serve",
        "abstractruntime --store sqlite:///runs.db scheduler serve",
    ),
    "runs": ("abstractruntime runs list --status waiting --since 2h", "abstractruntime runs show 6a16"),
    "ledger": ("abstractruntime ledger show 6a16fe06", "abstractruntime ledger verify 6a16fe06"),
    "flow": ("abstractruntime flow show examples/flows/ask_and_answer.json",),
    "bundle": ("abstractruntime bundle pack examples/flows/subflow_parent.json -o parent.flow",),
    "scheduler": ("abstractruntime scheduler serve",),
    "info": ("abstractruntime info", "abstractruntime --store file:///tmp/runs info --json"),
}
"""Command path -> example command lines."""


def examples(path: str) -> str:
    """The epilog of the command ``path``: ``Examples:`` and its lines, unwrapped by click (``\\b``)."""
    lines = "\n".join(f"  {line}" for line in EXAMPLES[path])
    return f"\b\nExamples:\n{lines}"
