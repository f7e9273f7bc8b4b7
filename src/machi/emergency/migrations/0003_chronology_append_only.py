"""The chronology is the disaster's record: its lines are never rewritten or deleted."""

from django.db import migrations

from machi.core import append_only


class Migration(migrations.Migration):
    dependencies = [("emergency", "0002_information_sharing")]
    operations = [append_only.operation("emergency_chronologyentry")]
