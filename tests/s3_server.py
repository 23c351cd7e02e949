"""A local S3 endpoint for the object-storage tests: moto's server on 127.0.0.1, reached by
pyarrow's real S3 client through the standard AWS_ENDPOINT_URL variable (which Ray workers
started afterwards inherit)."""

from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import contextmanager

BUCKET = "corpus"
ENV = {
    "AWS_ACCESS_KEY_ID": "testing",
    "AWS_SECRET_ACCESS_KEY": "testing",
    "AWS_REGION": "us-east-1",
    "AWS_DEFAULT_REGION": "us-east-1",
    "AWS_EC2_METADATA_DISABLED": "true",
}


@contextmanager
def s3_server() -> Iterator[str]:
    """Start the server, point the AWS variables at it, create BUCKET; yields the endpoint."""
    import logging

    from moto.server import ThreadedMotoServer
    from pyarrow import fs

    logging.getLogger("werkzeug").setLevel(logging.WARNING)  # one line per request otherwise
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    host, port = server.get_host_and_port()
    endpoint = f"http://{host}:{port}"
    saved = {k: os.environ.get(k) for k in [*ENV, "AWS_ENDPOINT_URL"]}
    os.environ.update(ENV | {"AWS_ENDPOINT_URL": endpoint})
    try:
        fs.S3FileSystem(endpoint_override=f"{host}:{port}", scheme="http", allow_bucket_creation=True).create_dir(
            BUCKET
        )
        yield endpoint
    finally:
        for k, v in saved.items():
            if v is None:
                os.environ.pop(k, None)
            else:
                os.environ[k] = v
        server.stop()


def read_tree(uri: str) -> dict[str, bytes]:
    """Every object under `uri`, by path relative to it."""
    from pyarrow import fs

    filesystem, base = fs.FileSystem.from_uri(uri)
    infos = filesystem.get_file_info(fs.FileSelector(base, recursive=True, allow_not_found=True))
    out = {}
    for info in infos:
        if info.type == fs.FileType.File:
            with filesystem.open_input_stream(info.path, compression=None) as f:
                out[info.path[len(base) + 1 :]] = f.read()
    return out
