"""A model that had a plain ImageField before the swap, created with its recorded size column."""

from __future__ import annotations

from django.db import migrations, models


class Migration(migrations.Migration):
    dependencies = (("documents", "0002_recorded_size"),)

    operations = (
        migrations.CreateModel(
            name="Photo",
            fields=[
                (
                    "id",
                    models.BigAutoField(
                        auto_created=True, primary_key=True, serialize=False, verbose_name="ID"
                    ),
                ),
                (
                    "image",
                    models.ImageField(
                        height_field="height", upload_to="photos/", width_field="width"
                    ),
                ),
                ("width", models.PositiveIntegerField(blank=True, editable=False, null=True)),
                ("height", models.PositiveIntegerField(blank=True, editable=False, null=True)),
                ("size_bytes", models.BigIntegerField(blank=True, editable=False, null=True)),
            ],
        ),
    )
