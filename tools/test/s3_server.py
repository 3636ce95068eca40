#!/usr/bin/env python3
"""A real S3-protocol server on loopback for tests (moto's server), with one bucket created.

Prints "READY <port>" once it accepts requests, then serves until stdin closes (so it dies
with the test that started it).

usage: s3_server.py BUCKET
"""
import socket
import sys

import boto3
from moto.server import ThreadedMotoServer

bucket = sys.argv[1]
with socket.socket() as s:
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
server = ThreadedMotoServer(ip_address="127.0.0.1", port=port, verbose=False)
server.start()
boto3.client(
    "s3",
    endpoint_url=f"http://127.0.0.1:{port}",
    aws_access_key_id="test",
    aws_secret_access_key="test",
    region_name="us-east-1",
).create_bucket(Bucket=bucket)
print(f"READY {port}", flush=True)
sys.stdin.read()
server.stop()
