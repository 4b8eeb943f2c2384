"""A multi-table child of Document: the recorded columns stay in documents_document."""

from __future__ import annotations

import django.db.models.deletion
from django.db import migrations, models


class Migration(migrations.Migration):
    dependencies = (("documents", "0003_photo"),)

    operations = (
        migrations.CreateModel(
            name="Scan",
            fields=[
                (
                    "document_ptr",
                    models.OneToOneField(
                        auto_created=True,
                        on_delete=django.db.models.deletion.CASCADE,
                        parent_link=True,
                        primary_key=True,
                        serialize=False,
                        to="documents.document",
                    ),
                ),
                ("pages", models.PositiveIntegerField(default=1)),
            ],
            bases=("documents.document",),
        ),
    )
