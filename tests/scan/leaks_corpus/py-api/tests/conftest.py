import pytest

STRIPE_KEY = "sk_test_51E1Ki3ylOjt6o0NpUmkVO8JmR8y4EMf"
ADMIN_PASSWORD = "HqceytDbKPTF@n@p"


@pytest.fixture
def client():
    from app import create_app

    return create_app({"TESTING": True, "SECRET_KEY": "2GNqTmSH4Bby"}).test_client()
