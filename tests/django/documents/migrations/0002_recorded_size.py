"""The migration docs/django.md tells a team to add: what `makemigrations` emits for the model.

Both columns are nullable without a default, so on Postgres 11+ adding them rewrites nothing and
holds the table lock only for a moment. The index on the key column is what the recorder's
UPDATE ... WHERE file = ... needs; on a large, busy table use
`django.contrib.postgres.operations.AddIndexConcurrently` in a non-atomic migration instead.
"""

from __future__ import annotations

from django.db import migrations, models


class Migration(migrations.Migration):
    dependencies = (("documents", "0001_initial"),)

    operations = (
        migrations.AddField(
            model_name="document",
            name="size_bytes",
            field=models.BigIntegerField(blank=True, editable=False, null=True),
        ),
        migrations.AddField(
            model_name="document",
            name="size_sequencer",
            field=models.TextField(blank=True, editable=False, null=True),
        ),
        migrations.AddIndex(
            model_name="document",
            index=models.Index(fields=["file"], name="documents_file_idx"),
        ),
    )
