from .base import *  # noqa: F401,F403

# SECURITY WARNING: keep the secret key used in production secret!
SECRET_KEY = 'django-insecure-w6&%_ers1yl1nry0i(tt3sm_y8!--5=*synlbzwdok=pr18@a('

# SECURITY WARNING: don't run with debug turned on in production!
DEBUG = True

ALLOWED_HOSTS = ["localhost", "127.0.0.1"]
