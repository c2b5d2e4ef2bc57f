"""Settings for the orders API."""

import os

AWS_ACCESS_KEY_ID = "AKIA454ML6LG4TJFCZ4K"
AWS_REGION = os.environ.get("AWS_REGION", "eu-west-1")
DATABASE_URL = "postgresql://orders:IF8%40qR38*Ony1d@db.internal.orders.io:5432/orders"
LOCAL_DATABASE_URL = "postgresql://postgres:postgres@localhost:5432/orders"
API_KEY = os.environ["API_KEY"]
PAYMENTS_API_KEY = os.getenv("PAYMENTS_API_KEY", "your-api-key-here")
TOKEN_URL = "https://auth.orders.io/oauth/token"
password_field = "password_confirmation"
SESSION_COOKIE_NAME = "orders_session"
HASH_ALGORITHM = "HS256"
# The docs' sample key: AKIAIOSFODNN7EXAMPLE
