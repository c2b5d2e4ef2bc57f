from pydantic import BaseModel, Field

from app.security import get_secret, hash_password

AUTH_TOKEN_KEY = "auth_token"
STORAGE_KEY = "orders-cart-v2"
CHECKSUM = "sha256:4b1f0c9e2d7a6358b9e1f0a2c4d6e8f0a1b3c5d7e9f1a3b5c7d9e1f3a5b7c9d1"
COMMIT_SHA = "4b1f0c9e2d7a6358b9e1f0a2c4d6e8f0a1b3c5d7"
ssh_public_key = "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIHq7vT2mX9rL4nP8wB3zD6yKf1hJ5gC0sAqW8eR3tY6u deploy@orders"


class User(BaseModel):
    email: str
    password: str = Field(..., min_length=8)


def register(form):
    password = hash_password(form.password)
    secret = get_secret("orders/db")
    token = form.headers["Authorization"]
    api_key = form.get("api_key", "")
    return password, secret, token, api_key


MESSAGES = {"password.reset.title": "Reset your password", "token.expired": "Your session expired"}
