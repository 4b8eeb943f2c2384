"""The serializers a team already has: `file.size` reads through the field, unchanged."""

from __future__ import annotations

from rest_framework import serializers

from tests.django.documents.models import Document, Photo


class DocumentSerializer(serializers.ModelSerializer):
    size = serializers.IntegerField(source="file.size", read_only=True)

    class Meta:
        model = Document
        fields = ("id", "title", "file", "size")


class PhotoSerializer(serializers.ModelSerializer):
    # width and height are the model's fields, filled at upload; `image.width` would download
    # the image to measure it.
    size = serializers.IntegerField(source="image.size", read_only=True)

    class Meta:
        model = Photo
        fields = ("id", "image", "width", "height", "size")
