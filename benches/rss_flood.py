#!/usr/bin/env python3
"""Memory under a password-hashing flood, measured on the real server binary.

Usage: cargo build --release && python3 benches/rss_flood.py target/release/portcullis [N]

Starts the binary on a throwaway SQLite database with production argon2 parameters (the
defaults), sends N sign-ups and N logins from 16 concurrent clients over loopback, and prints
the process's resident memory (VmRSS) after start, after the flood and after 3 s idle.
"""
import concurrent.futures
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
import urllib.request

binary = sys.argv[1]
count = int(sys.argv[2]) if len(sys.argv) > 2 else 200
work = tempfile.mkdtemp(prefix="portcullis-rss-")
env = {
    "PATH": os.environ.get("PATH", ""),
    "PORTCULLIS_LISTEN": "127.0.0.1:0",
    "PORTCULLIS_DATA_DIR": f"{work}/data",
    "PORTCULLIS_KEYS_DIR": f"{work}/keys",
    "DATABASE_URL": f"sqlite://{work}/data/portcullis.db",
    # The flood comes from one address: lift the per-IP limits, keep everything else default.
    "PORTCULLIS_SIGNUPS_PER_IP": "1000000/1h",
    "PORTCULLIS_RATE_LIMIT_PER_SECOND": "1000000",
    "PORTCULLIS_RATE_LIMIT_BURST": "1000000",
    "RUST_LOG": "error",
}
env.update({k: v for k, v in os.environ.items() if k.startswith(("MALLOC_", "MIMALLOC_"))})
server = subprocess.Popen([binary, "serve"], env=env, stdout=subprocess.PIPE, text=True)
address = None
for line in server.stdout:
    match = re.match(r"portcullis listening on (\S+)", line)
    if match:
        address = match.group(1)
        break


def rss_mib():
    with open(f"/proc/{server.pid}/status") as status:
        return int(re.search(r"VmRSS:\s+(\d+)", status.read()).group(1)) // 1024


def post(path, body):
    req = urllib.request.Request(address + path, json.dumps(body).encode(), {"content-type": "application/json"})
    urllib.request.urlopen(req, timeout=60).read()


def sign_up_and_log_in(i):
    body = {"email": f"user{i}@example.com", "password": "password-123"}
    post("/auth/register", body)
    post("/auth/login", body)


try:
    print(f"VmRSS after start: {rss_mib()} MiB")
    started = time.time()
    with concurrent.futures.ThreadPoolExecutor(16) as pool:
        list(pool.map(sign_up_and_log_in, range(count)))
    print(f"{count} sign-ups + {count} logins in {time.time() - started:.1f} s; VmRSS {rss_mib()} MiB")
    time.sleep(3)
    print(f"VmRSS after 3 s idle: {rss_mib()} MiB")
finally:
    server.terminate()
    server.wait()
    shutil.rmtree(work, ignore_errors=True)
