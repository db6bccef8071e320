"""``AbstractCoreChatSummarizer``: MEMORY_COMPACT summaries written by AbstractCore's ``BasicSummarizer`` (SPEC §11.1).

The local factories hand one to the runtime (``Runtime(chat_summarizer=...)``), so MEMORY_COMPACT summarises
older messages with the local model directly instead of through an LLM_CALL child run.  The kernel calls
``summarize_chat_history(messages, preserve_recent=0, focus=..., compression_mode=...)`` with the messages to
fold and reads ``summary`` (plus optional ``key_points`` and ``confidence``) from the answer.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from ._abstractcore import import_abstractcore_module

__all__ = ["AbstractCoreChatSummarizer"]


class AbstractCoreChatSummarizer:
    """Summarises chat history with ``abstractcore.processing.BasicSummarizer`` over a local client's provider.

    Args:
        llm_client: a :class:`~.local_client.LocalAbstractCoreLLMClient` (its ``llm`` provider is used) or an
            AbstractCore provider instance.
        max_chunk_size: characters per chunk when the history is long (BasicSummarizer's chunking).

    Raises:
        MissingExtraError: ``abstractcore`` is not installed (extra ``abstractcore``).
    """

    def __init__(self, llm_client: Any, *, max_chunk_size: int = 8000) -> None:
        module = import_abstractcore_module(
            "abstractcore.processing.basic_summarizer", feature="AbstractCoreChatSummarizer"
        )
        provider = getattr(llm_client, "llm", llm_client)
        self._modes: Any = module.CompressionMode
        self._summarizer: Any = module.BasicSummarizer(llm=provider, max_chunk_size=max_chunk_size)

    def summarize_chat_history(
        self,
        messages: list[dict[str, Any]],
        preserve_recent: int = 0,
        focus: str | None = None,
        compression_mode: str = "standard",
    ) -> dict[str, Any]:
        """``{"summary", "key_points", "confidence"}`` for ``messages`` (``[{role, content}]``).

        Args:
            messages: the turns to summarise.
            preserve_recent: newest messages left out of the summary; 0 summarises them all.
            focus: what the summary should keep (decisions, open questions, ...).
            compression_mode: ``light``, ``standard`` or ``heavy`` (anything else counts as ``standard``).

        Raises:
            Exception: whatever AbstractCore raised (the kernel reports it as a failed compaction).
        """
        turns = [dict(m) for m in messages if isinstance(m, Mapping)]
        values = {mode.value: mode for mode in self._modes}
        mode = values.get(str(compression_mode or "").strip().lower(), self._modes.STANDARD)
        # BasicSummarizer keeps the last ``preserve_recent`` messages out; asking it to keep all of them makes
        # it summarise the whole list, which is what ``preserve_recent=0`` means here.
        keep = preserve_recent if 0 < preserve_recent < len(turns) else len(turns)
        out = self._summarizer.summarize_chat_history(
            turns, preserve_recent=keep, focus=focus, compression_mode=mode
        )
        return {
            "summary": str(getattr(out, "summary", "") or ""),
            "key_points": [str(p) for p in getattr(out, "key_points", None) or []],
            "confidence": getattr(out, "confidence", None),
        }
