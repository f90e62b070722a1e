"""Settings of the media service (env prefix `MEDIA_`)."""

from __future__ import annotations

from typing import Literal

from pydantic import Field, SecretStr
from pydantic_settings import SettingsConfigDict

from services.common.settings import ServiceSettings

MB = 1024 * 1024


class MediaSettings(ServiceSettings):
    model_config = SettingsConfigDict(env_prefix="MEDIA_", extra="ignore")

    service_name: str = "media"
    storage: Literal["local", "s3"] = Field(
        default="local", description="local: files under data_dir/media; s3: MinIO or S3."
    )
    s3_endpoint: str | None = Field(default=None, description="host:port, e.g. minio:9000")
    s3_access_key: str | None = None
    s3_secret_key: SecretStr | None = None
    s3_bucket: str = "portal-media"
    s3_secure: bool = Field(default=True, description="HTTPS to the S3 endpoint.")
    s3_region: str = "us-east-1"
    s3_presigned_downloads: bool = Field(
        default=False,
        description="Answer public downloads with a redirect to a presigned S3 URL.",
    )
    s3_presign_seconds: int = Field(default=300, ge=10, le=7 * 24 * 3600)
    max_image_bytes: int = Field(default=20 * MB, ge=1)
    max_document_bytes: int = Field(default=50 * MB, ge=1)
    max_video_bytes: int = Field(default=2048 * MB, ge=1)
    max_audio_bytes: int = Field(default=200 * MB, ge=1)
    max_image_pixels: int = Field(
        default=80_000_000, description="Larger images are refused as decompression bombs."
    )
    max_animation_pixels: int = Field(
        default=50_000_000,
        ge=1,
        description="Animated GIF/PNG/WebP: frames x canvas pixels, read from the headers; "
        "more is refused before decoding (each frame is decoded at the full canvas size).",
    )
    max_animation_frames: int = Field(
        default=1000, ge=1, description="Animated GIF/PNG/WebP with more frames are refused."
    )
    max_zip_uncompressed_bytes: int = Field(
        default=200 * MB, description="DOCX/XLSX/ODT whose members unpack to more are refused."
    )
    max_bytes_before_portal: int = Field(
        default=1 * MB,
        ge=0,
        description="Bytes of the file accepted before the form's `portal` field has been "
        "read and the uploader's membership checked; send `portal` first.",
    )
    processing_slots: int = Field(
        default=2, ge=1, le=64, description="Files checked/rendered at once per process."
    )
    ffprobe_path: str | None = Field(
        default=None, description="ffprobe binary; default: found on PATH (Debian: ffmpeg)."
    )
    ffmpeg_path: str | None = Field(default=None, description="ffmpeg binary; default: PATH.")
    content_url: str | None = Field(
        default=None,
        description="The content service (e.g. http://content:8000): the caller's current "
        "roles and which portals exist. Unset: uploads and members' reads answer 503. "
        "Embedded mode passes an in-process client instead.",
    )
    content_token: SecretStr | None = Field(
        default=None, description="Sent to content's portal lookups, if content requires one."
    )
    events_token: SecretStr | None = Field(
        default=None,
        description="If set, content's event deliveries and usage calls must carry it.",
    )

    def max_bytes(self, kind: str) -> int:
        """The size limit of one kind of file."""
        return {
            "image": self.max_image_bytes,
            "document": self.max_document_bytes,
            "video": self.max_video_bytes,
            "audio": self.max_audio_bytes,
        }[kind]

    @property
    def max_any_bytes(self) -> int:
        """The limit before the kind is known (the largest of all)."""
        return max(
            self.max_image_bytes,
            self.max_document_bytes,
            self.max_video_bytes,
            self.max_audio_bytes,
        )
