"""The step engine: the loop, effect execution, resumes, operator control and commits.

Internal: the public entry point is :class:`abstractruntime.core.runtime.Runtime`.
"""
