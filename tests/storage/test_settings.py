"""STORAGE_URL and S3_ENDPOINT_URL: a bad value stops start-up with one line naming it."""

from __future__ import annotations

from pathlib import Path

import pytest

from llmportal.config import ConfigError, load_settings
from llmportal.storage import LocalStorage, open_storage
from llmportal.storage.s3 import S3Storage


@pytest.mark.parametrize(
    ("value", "message"),
    [
        ("ftp://host/files", "must be a directory or s3://bucket/prefix"),
        ("s3://", "must be a directory or s3://bucket/prefix"),
        ("s3://Bad_Bucket!/x", "'Bad_Bucket!' is not a valid S3 bucket name"),
    ],
)
def test_a_bad_storage_url_is_one_line(value: str, message: str) -> None:
    with pytest.raises(ConfigError) as bad:
        load_settings(storage_url=value)
    assert str(bad.value) == f"invalid setting LLMPORTAL_STORAGE_URL: {message}"


def test_a_bad_endpoint_is_one_line() -> None:
    with pytest.raises(ConfigError) as bad:
        load_settings(s3_endpoint_url="minio:9000")
    assert (
        str(bad.value)
        == "invalid setting LLMPORTAL_S3_ENDPOINT_URL: must be an http:// or https:// URL"
    )


def test_the_backend_follows_the_setting(tmp_path: Path) -> None:
    assert isinstance(open_storage(load_settings(storage_dir=str(tmp_path))), LocalStorage)
    on_s3 = open_storage(
        load_settings(storage_url="s3://portal-files/prod/", s3_endpoint_url="http://minio:9000/")
    )
    assert isinstance(on_s3, S3Storage)
    assert (on_s3.bucket, on_s3.prefix, on_s3.endpoint_url) == (
        "portal-files",
        "prod/",
        "http://minio:9000",
    )
