"""`manage.py size_recorder`, found by Django once `size_recorder.django` is installed."""
