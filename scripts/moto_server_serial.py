#!/usr/bin/env python3
"""moto's server with DynamoDB writes serialised (started by scripts/local_aws.py).

moto snapshots a table when a TransactWriteItems starts and restores the snapshot when the
transaction is cancelled. Two requests served at once by its threaded server can therefore erase
each other: a concurrent delivery's cancelled commit restores the table as it was before the
winner's commit, and the winner's ledger entry and stats vanish. Real DynamoDB cannot do that
(items are serialisable), and the fault suite's concurrent deliveries hit it under load. One lock
around every DynamoDB write makes the emulator behave like the service here; reads stay parallel.
"""
import sys
import threading

from moto.dynamodb.models import DynamoDBBackend
from moto.server import main

_LOCK = threading.RLock()


def _serialised(name):
    original = getattr(DynamoDBBackend, name)

    def write(self, *args, **kwargs):
        with _LOCK:
            return original(self, *args, **kwargs)

    write.__name__ = name
    setattr(DynamoDBBackend, name, write)


for _name in ("transact_write_items", "put_item", "update_item", "delete_item", "batch_write_item"):
    _serialised(_name)

if __name__ == "__main__":
    sys.exit(main())
