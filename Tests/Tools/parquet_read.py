#!/usr/bin/env python3
"""Reads a Parquet file with pyarrow and with DuckDB (readers we did not write) and prints what
each saw as one JSON document: rows (timestamps as epoch milliseconds, NaN as "NaN"), schema,
row groups, and per column chunk the encodings, dictionary page and statistics.

usage: parquet_read.py FILE [--summary]   (--summary: counts and sums instead of every row)
"""
import json
import math
import sys

import duckdb
import pyarrow as pa
import pyarrow.compute  # noqa: F401 (pa.compute)
import pyarrow.parquet as pq


def normalize(table):
    cols = []
    for f in table.schema:
        c = table.column(f.name)
        if pa.types.is_timestamp(f.type):
            c = c.cast(pa.timestamp("ms", tz=f.type.tz)).cast(pa.int64())
        cols.append(c)
    t = pa.table(cols, names=table.schema.names)
    rows = t.to_pylist()
    for r in rows:
        for k, v in r.items():
            if isinstance(v, float) and math.isnan(v):
                r[k] = "NaN"
    return rows


def summary(table):
    out = {"rows": table.num_rows}
    for f in table.schema:
        c = table.column(f.name)
        if pa.types.is_timestamp(f.type):
            c = c.cast(pa.timestamp("ms", tz=f.type.tz)).cast(pa.int64())
        entry = {"nulls": c.null_count}
        if pa.types.is_integer(c.type):
            entry["sum"] = int(pa.compute.sum(c).as_py() or 0)
        if pa.types.is_string(c.type) or pa.types.is_large_string(c.type):
            entry["distinct"] = len(pa.compute.unique(c))
        out[f.name] = entry
    return out


def main():
    path = sys.argv[1]
    brief = "--summary" in sys.argv
    pf = pq.ParquetFile(path)
    md = pf.metadata
    chunks = []
    for g in range(md.num_row_groups):
        rg = md.row_group(g)
        for i in range(rg.num_columns):
            c = rg.column(i)
            s = c.statistics
            chunks.append({
                "row_group": g, "column": c.path_in_schema, "compression": c.compression,
                "encodings": list(c.encodings), "dictionary": c.has_dictionary_page,
                "nulls": s.null_count if s is not None else None,
                "min": (str(s.min) if s is not None and s.has_min_max else None),
                "max": (str(s.max) if s is not None and s.has_min_max else None),
            })
    arrow = pf.read()
    duck = duckdb.sql(f"SELECT * FROM read_parquet('{path}', hive_partitioning=false)").arrow()
    if hasattr(duck, "read_all"):
        duck = duck.read_all()
    doc = {
        "schema": [f"{f.name}:{f.type}:{'optional' if f.nullable else 'required'}" for f in arrow.schema],
        "row_groups": md.num_row_groups,
        "chunks": chunks,
        "duckdb_types": [str(t) for t in duckdb.sql(f"SELECT * FROM read_parquet('{path}', hive_partitioning=false) LIMIT 0").types],
    }
    if brief:
        doc["pyarrow"] = summary(arrow)
        doc["duckdb"] = summary(duck)
    else:
        doc["pyarrow"] = normalize(arrow)
        doc["duckdb"] = normalize(duck)
    json.dump(doc, sys.stdout)


if __name__ == "__main__":
    main()
