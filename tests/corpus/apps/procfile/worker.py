"""Background worker: 'sends' a notification for every new guestbook entry."""
import logging
import time

from db import connect

logging.basicConfig(level=logging.INFO, format="%(asctime)s worker %(message)s")
log = logging.getLogger(__name__)


def drain():
    with connect() as conn:
        rows = conn.execute(
            "SELECT outbox.id, entries.name FROM outbox JOIN entries ON entries.id = entry_id"
            " WHERE sent_at IS NULL"
        ).fetchall()
        for row in rows:
            log.info("new entry from %s", row["name"])
            conn.execute(
                "UPDATE outbox SET sent_at = CURRENT_TIMESTAMP WHERE id = ?", (row["id"],)
            )
    return len(rows)


if __name__ == "__main__":
    while True:
        drain()
        time.sleep(5)
