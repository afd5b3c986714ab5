"""Where dumps are kept: a directory, or an S3-compatible bucket (boto3). Objects are named
by key (`dumps/<id>.dump`, `dumps/<id>.json`); nothing here knows what they hold."""

from __future__ import annotations

import shutil
from pathlib import Path
from typing import TYPE_CHECKING, Protocol

from app.backup.barman import BackupError

if TYPE_CHECKING:
    from types_boto3_s3 import S3Client


class Store(Protocol):
    def describe(self) -> str: ...
    def put(self, key: str, source: Path) -> None: ...
    def get(self, key: str, target: Path) -> None: ...
    def keys(self, prefix: str) -> list[str]: ...
    def delete(self, key: str) -> None: ...


class DirectoryStore:
    def __init__(self, root: Path) -> None:
        self.root = root

    def describe(self) -> str:
        return str(self.root)

    def put(self, key: str, source: Path) -> None:
        target = self.root / key
        target.parent.mkdir(parents=True, exist_ok=True)
        partial = target.with_name(target.name + ".partial")
        shutil.copyfile(source, partial)
        partial.replace(target)  # a reader never sees half a file

    def get(self, key: str, target: Path) -> None:
        try:
            shutil.copyfile(self.root / key, target)
        except FileNotFoundError:
            raise BackupError(f"{key} is not in {self.root}") from None

    def keys(self, prefix: str) -> list[str]:
        base = self.root / prefix
        if not base.is_dir():
            return []
        return sorted(
            str(path.relative_to(self.root))
            for path in base.iterdir()
            if path.is_file() and not path.name.endswith(".partial")
        )

    def delete(self, key: str) -> None:
        (self.root / key).unlink(missing_ok=True)


class S3Store:
    def __init__(self, url: str, endpoint_url: str | None) -> None:
        import boto3
        from botocore.config import Config

        bucket, _, prefix = url.removeprefix("s3://").partition("/")
        self.bucket = bucket
        self.prefix = prefix.strip("/") + "/" if prefix.strip("/") else ""
        self.url = url
        self.client: S3Client = boto3.client(
            "s3",
            endpoint_url=endpoint_url,
            config=Config(retries={"mode": "standard", "max_attempts": 5}),
        )

    def describe(self) -> str:
        return self.url

    def put(self, key: str, source: Path) -> None:
        from botocore.exceptions import BotoCoreError, ClientError

        try:
            self.client.upload_file(str(source), self.bucket, self.prefix + key)
        except (BotoCoreError, ClientError) as exc:
            raise BackupError(f"could not upload {key} to {self.url}: {exc}") from exc

    def get(self, key: str, target: Path) -> None:
        from botocore.exceptions import BotoCoreError, ClientError

        try:
            self.client.download_file(self.bucket, self.prefix + key, str(target))
        except (BotoCoreError, ClientError) as exc:
            raise BackupError(f"could not download {key} from {self.url}: {exc}") from exc

    def keys(self, prefix: str) -> list[str]:
        from botocore.exceptions import BotoCoreError, ClientError

        found: list[str] = []
        try:
            pages = self.client.get_paginator("list_objects_v2").paginate(
                Bucket=self.bucket, Prefix=self.prefix + prefix
            )
            for page in pages:
                found += [item["Key"][len(self.prefix) :] for item in page.get("Contents", [])]
        except (BotoCoreError, ClientError) as exc:
            raise BackupError(f"could not list {self.url}: {exc}") from exc
        return sorted(found)

    def delete(self, key: str) -> None:
        from botocore.exceptions import BotoCoreError, ClientError

        try:
            self.client.delete_object(Bucket=self.bucket, Key=self.prefix + key)
        except (BotoCoreError, ClientError) as exc:
            raise BackupError(f"could not delete {key} from {self.url}: {exc}") from exc


def open_store(repository: str, endpoint_url: str | None) -> Store:
    if repository.startswith("s3://"):
        return S3Store(repository, endpoint_url)
    return DirectoryStore(Path(repository))
