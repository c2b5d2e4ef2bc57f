from .base import *  # noqa: F401,F403

# SECURITY WARNING: keep the secret key used in production secret!
SECRET_KEY = "django-insecure-q7#v2m!x9$k@t3z&w8p^r5n*b1y6u(c4e0-h+j=f_s%l"
DEBUG = True
EMAIL_HOST_PASSWORD = "Mv8qT2xK7nW3rL5z"
AWS_SECRET_ACCESS_KEY_ID = "AKIAW3KQ7RXV5M2JZ4TB"
