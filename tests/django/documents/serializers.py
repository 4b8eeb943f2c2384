"""The serializer a team already has: `file.size` reads through the field, unchanged."""

from __future__ import annotations

from rest_framework import serializers

from tests.django.documents.models import Document


class DocumentSerializer(serializers.ModelSerializer):
    size = serializers.IntegerField(source="file.size", read_only=True)

    class Meta:
        model = Document
        fields = ("id", "title", "file", "size")
