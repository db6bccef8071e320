"""The store contract suite: one set of tests every RunStore/LedgerStore backend must pass.

Ship it against your own backend by subclassing :class:`StoreContract` in a pytest module and
providing a ``store_factory`` fixture returning a :class:`StoreFactory`::

    import pytest
    from abstractruntime.testing.contract import StoreContract, StoreFactory

    class TestMyStores(StoreContract):
        @pytest.fixture
        def store_factory(self, tmp_path):
            return StoreFactory(name="mine", open=lambda: (MyRunStore(tmp_path), MyLedgerStore(tmp_path)))

``open`` must return *new* store objects over the *same* storage on every call: the suite calls it
again to simulate a process restart.  Give ``open_leases`` as well to run the lease contract
(:class:`RunLeaseStoreContract`) on your ``RunLeaseStore``.  Artifact stores have their own suite:
:class:`ArtifactStoreContract` with an :class:`ArtifactStoreFactory`.  Needs pytest (the ``test`` extra).
"""

from .artifacts import ArtifactStoreContract, ArtifactStoreFactory
from .factory import StoreFactory
from .leases import RunLeaseStoreContract
from .ledger_store import LedgerStoreContract
from .resume_commit import ResumeCommitContract
from .run_store import RunStoreContract
from .runtime import RuntimeOnStoreContract

__all__ = [
    "ArtifactStoreContract",
    "ArtifactStoreFactory",
    "LedgerStoreContract",
    "ResumeCommitContract",
    "RunLeaseStoreContract",
    "RunStoreContract",
    "RuntimeOnStoreContract",
    "StoreContract",
    "StoreFactory",
]


class StoreContract(
    RunStoreContract,
    LedgerStoreContract,
    RunLeaseStoreContract,
    RuntimeOnStoreContract,
    ResumeCommitContract,
):
    """Every contract test: run store, ledger store, lease store (when the factory has
    ``open_leases``), the runtime driving them, and the resume commit."""
