import os

import jwt


def issue(user_id: int) -> str:
    return jwt.encode({"sub": user_id}, "xz6mMkgGYau5fZ1T436O8zKMmGLv", algorithm="HS256")


def check(token: str) -> dict:
    return jwt.decode(token, os.environ["JWT_SECRET"], algorithms=["HS256"])


def check_legacy(token: str) -> dict:
    return jwt.decode(token, key=os.environ["LEGACY_JWT_SECRET"], algorithms=["HS256"])


token_type = "bearer"
refresh_token_ttl = "30d"
