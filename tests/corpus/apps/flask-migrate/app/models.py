from datetime import datetime, timezone
from typing import Optional

import sqlalchemy as sa
import sqlalchemy.orm as so

from app import db


class Task(db.Model):
    id: so.Mapped[int] = so.mapped_column(primary_key=True)
    title: so.Mapped[str] = so.mapped_column(sa.String(140))
    done: so.Mapped[bool] = so.mapped_column(default=False)
    notes: so.Mapped[Optional[str]] = so.mapped_column(sa.Text)
    created: so.Mapped[datetime] = so.mapped_column(
        index=True, default=lambda: datetime.now(timezone.utc)
    )

    def __repr__(self):
        return f"<Task {self.title}>"
