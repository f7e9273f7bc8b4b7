"""WSGI entry point: ``gunicorn machi.config.wsgi``."""

import os

from django.core.wsgi import get_wsgi_application

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "machi.config.settings")
application = get_wsgi_application()
