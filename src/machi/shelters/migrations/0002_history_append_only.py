"""A shelter's status history and a person's check-in history are never rewritten."""

from django.db import migrations

from machi.core import append_only


class Migration(migrations.Migration):
    dependencies = [("shelters", "0001_initial")]
    operations = [append_only.operation("shelters_openingevent", "shelters_checkinevent")]
