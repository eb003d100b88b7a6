"""Runs SQL in DuckDB with its iceberg and httpfs extensions, offline, and
prints each statement's last result as one JSON line (a list of rows).

The independent reader of Wardwatch's curated Iceberg tables (the tests use
it; a data scientist can too). Run with the Python that scripts/peers.sh set
up ($WARDWATCH_DUCKDB_PYTHON):

    python scripts/duckdb-query.py "SELECT count(*) FROM iceberg_scan('…/metadata/00003-….metadata.json')"

For an S3 endpoint set WARDWATCH_DUCKDB_S3_ENDPOINT (host:port),
WARDWATCH_DUCKDB_S3_KEY and WARDWATCH_DUCKDB_S3_SECRET; plain HTTP unless
WARDWATCH_DUCKDB_S3_SSL=1. With `--time` first, each line is
{"rows": [...], "ms": milliseconds the statement took}.
"""

import json
import os
import sys
import time

import duckdb
import duckdb_ext


def connect():
    con = duckdb.connect()
    # The extensions come from PyPI wheels; never reach for the internet.
    con.execute("SET autoinstall_known_extensions = false")
    con.execute("SET autoload_known_extensions = false")
    ext_dir = os.path.join(list(duckdb_ext.__path__)[0], "extensions")
    con.execute("SET extension_directory = ?", [ext_dir])
    con.execute("LOAD avro")
    con.execute("LOAD iceberg")
    con.execute("LOAD httpfs")
    endpoint = os.environ.get("WARDWATCH_DUCKDB_S3_ENDPOINT")
    if endpoint:
        con.execute(
            "CREATE SECRET lake (TYPE s3, KEY_ID ?, SECRET ?, ENDPOINT ?, URL_STYLE 'path', USE_SSL ?, REGION 'us-east-1')",
            [
                os.environ.get("WARDWATCH_DUCKDB_S3_KEY", ""),
                os.environ.get("WARDWATCH_DUCKDB_S3_SECRET", ""),
                endpoint,
                os.environ.get("WARDWATCH_DUCKDB_S3_SSL") == "1",
            ],
        )
    return con


def main(args):
    # --time: each line is {"rows": [...], "ms": wall time of the statement}.
    timed = bool(args) and args[0] == "--time"
    con = connect()
    for sql in args[1:] if timed else args:
        started = time.perf_counter()
        rows = [list(r) for r in con.execute(sql).fetchall()]
        ms = (time.perf_counter() - started) * 1e3
        print(json.dumps({"rows": rows, "ms": ms} if timed else rows, default=str))


if __name__ == "__main__":
    main(sys.argv[1:])
