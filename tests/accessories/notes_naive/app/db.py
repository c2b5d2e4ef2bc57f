import os
from sqlalchemy import create_engine
from sqlalchemy.orm import sessionmaker, DeclarativeBase


def _url() -> str:
    return os.environ.get("DATABASE_URL", "postgresql+psycopg://notes:notes@localhost:5432/notes")


engine = create_engine(_url(), pool_pre_ping=True)
SessionLocal = sessionmaker(bind=engine)


class Base(DeclarativeBase):
    pass
