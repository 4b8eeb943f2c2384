"""Record the size of every S3 upload in the Postgres row that names it."""

__version__ = "0.1.0"
