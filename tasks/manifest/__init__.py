"""The delivery manifest: what each production delivered to Frame.io, as an ASC MHL history.

* :mod:`.deliveries`: one row per delivered file in the state store (the source of truth,
  shared by every machine), and the lease that lets one process write the history at a time;
* :mod:`.history`: the ASC MHL history written from those rows with ``ascmhl``'s Python API,
  each file at its watch-folder-relative path with its ``xxh128``, size and mtime;
* :mod:`.record`: the ingest's two calls, :func:`record_delivery` then :func:`write_pending`;
* :mod:`.verify`: re-hash the sources against their deliveries (``postflow manifest
  --verify``).
"""

from tasks.manifest.deliveries import Delivery, DeliveryLog, WriterState
from tasks.manifest.history import Generation, manifest_root, read_history, write_generation
from tasks.manifest.record import Written, delivery_of, record_delivery, write_pending
from tasks.manifest.verify import Check, Status, file_xxh128, latest_per_path, verify_deliveries

__all__ = [
    "Check",
    "Delivery",
    "DeliveryLog",
    "Generation",
    "Status",
    "WriterState",
    "Written",
    "delivery_of",
    "file_xxh128",
    "latest_per_path",
    "manifest_root",
    "read_history",
    "record_delivery",
    "verify_deliveries",
    "write_generation",
    "write_pending",
]
