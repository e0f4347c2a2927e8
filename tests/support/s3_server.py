"""A real S3-compatible server on a free 127.0.0.1 port (`moto_server` from `moto[server]`), one per session.

Tests reach it the way any S3 client in production would, through the standard variables only:
`AWS_ENDPOINT_URL`, `AWS_ACCESS_KEY_ID`, `AWS_SECRET_ACCESS_KEY`, `AWS_REGION` (`S3Server.env`).
"""

from __future__ import annotations

import os
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx

from monitoring.stack.processes import free_port, stop_process


@dataclass(frozen=True)
class S3Server:
    endpoint: str

    @property
    def env(self) -> dict[str, str]:
        return {
            "AWS_ENDPOINT_URL": self.endpoint,
            "AWS_ACCESS_KEY_ID": "testing",
            "AWS_SECRET_ACCESS_KEY": "testing",
            "AWS_REGION": "us-east-1",
        }

    def new_bucket(self) -> str:
        """A fresh, empty bucket (created with boto3, as an operator would with the AWS CLI)."""
        import boto3

        name = f"logs-{uuid.uuid4().hex[:10]}"
        client = boto3.client(
            "s3",
            endpoint_url=self.endpoint,
            region_name="us-east-1",
            aws_access_key_id="testing",
            aws_secret_access_key="testing",
        )
        client.create_bucket(Bucket=name)
        return name


def start_s3_server(log_dir: Path) -> Iterator[S3Server]:
    exe = Path(sys.executable).parent / "moto_server"
    port = free_port()
    with open(log_dir / "moto.log", "wb") as out:
        proc = subprocess.Popen(
            [str(exe), "-H", "127.0.0.1", "-p", str(port)],
            stdout=out,
            stderr=subprocess.STDOUT,
            env={k: v for k, v in os.environ.items() if not k.startswith("AWS_")},
        )
        endpoint = f"http://127.0.0.1:{port}"
        try:
            deadline = time.monotonic() + 90  # a busy 2-core machine: Flask and moto import slowly
            while True:
                if proc.poll() is not None:
                    raise RuntimeError(f"moto_server exited with {proc.returncode} (see {log_dir}/moto.log)")
                try:
                    httpx.get(f"{endpoint}/", timeout=1.0)
                    break
                except httpx.HTTPError:
                    if time.monotonic() > deadline:
                        raise TimeoutError("moto_server did not answer within 90 s") from None
                    time.sleep(0.1)
            yield S3Server(endpoint)
        finally:
            stop_process(proc)
