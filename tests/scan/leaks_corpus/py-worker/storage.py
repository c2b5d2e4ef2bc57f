import boto3
import redis
import requests

s3 = boto3.client(
    "s3",
    aws_access_key_id="AKIAJ7QW3RXV5M2KZ4TB",
    aws_secret_access_key="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",
)
cache = redis.Redis(host="cache.orders.io", password="Pz8vK3mT7xW2nQ5r")
MONGO_URL = "mongodb+srv://reports:Jt6vN2xK9mW4qR7z@cluster0.k3v9x.mongodb.net/reports"


def fetch_report(report_id: str) -> bytes:
    resp = requests.get(
        f"https://reports.orders.io/{report_id}",
        headers={"Authorization": "Bearer 7c9e2f4a8b1d3e6f0a5c7b9d2e4f6a8c"},
    )
    return resp.content


EMPTY_KEY = "00000000-0000-0000-0000-000000000000"
masked_password = "********"
password_hash = "$2b$12$Kq9vT2mX8rL4nP7wB3zD6uYf1hJ5gC0sAqW8eR3tY6uI9oP2aS5dG"
example_token = "eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiIxIn0.Xk9vT2mQ7nW4rL8pZ5bD4sF1hJ6gC3aY"
STRIPE_PUBLISHABLE_KEY = "pk_test_51USHL8iLc7bE6wSt9cbMOeEeUtuieeC"
ANTHROPIC_KEY_DOCS = "sk-ant-api03-XXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXX"
