from django.db import migrations

from machi.core import append_only


class Migration(migrations.Migration):
    dependencies = [("procedures", "0001_initial")]

    operations = [append_only.operation("procedures_statusentry")]
