"""Helpers the test directories share, imported by name (`from tests.support.events import
s3_body`). Fixtures live in `tests/plugins/`, registered by the root conftest.py.

- `events`: recorded events from tests/events/, S3 notification bodies, SQS → Lambda events;
- `lambda_context`: what Lambda passes as `context`, with a real deadline;
- `postgres`: the Django-shaped documents table and the recorder's environment for it;
- `aws`: unique bucket/queue names and a queue with its dead-letter queue.
"""
