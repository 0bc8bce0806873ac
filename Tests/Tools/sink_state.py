#!/usr/bin/env python3
"""What a checkpointed run left in its data folder, read with DuckDB (a reader we did not write):
per Parquet table the row count and an MD5 over the sorted rows; the derived events' ids (count,
distinct count, MD5 of the sorted ids); the dead letters (count, MD5 of the sorted lines); every
file present (relative paths, temp files included).

usage: sink_state.py DATA_DIR
"""
import hashlib
import json
import os
import sys

import duckdb


def main():
    root = sys.argv[1]
    out = {"tables": {}, "files": []}
    for dirpath, _, names in os.walk(root):
        for n in names:
            out["files"].append(os.path.relpath(os.path.join(dirpath, n), root))
    out["files"].sort()
    for table in ("events", "order_facts", "order_items"):
        pattern = os.path.join(root, "parquet", table, "**", "*.parquet")
        rel = duckdb.sql(f"SELECT * FROM read_parquet('{pattern}', hive_partitioning=false)")
        cols = []
        for name, typ in zip(rel.columns, rel.types):
            q = '"' + name + '"'
            cols.append(f"epoch_ms({q})::VARCHAR" if "TIMESTAMP" in str(typ) else f"{q}::VARCHAR")
        rows = duckdb.sql(
            f"SELECT concat_ws('|', {', '.join('coalesce(' + c + ', ' + chr(39) + chr(92) + 'N' + chr(39) + ')' for c in cols)}) AS r "
            f"FROM read_parquet('{pattern}', hive_partitioning=false) ORDER BY r").fetchall()
        h = hashlib.md5()
        for (r,) in rows:
            h.update(r.encode() + b"\n")
        # pyarrow reads every file too (row counts must agree with DuckDB's).
        import glob
        import pyarrow.parquet as pq
        arrow_rows = sum(pq.ParquetFile(f).metadata.num_rows for f in glob.glob(pattern, recursive=True))
        for f in glob.glob(pattern, recursive=True):
            pq.read_table(f)  # every value decodes
        out["tables"][table] = {"rows": len(rows), "md5": h.hexdigest(), "pyarrow_rows": arrow_rows}
    ids = []
    for kind in ("derived", "dlq"):
        lines = []
        d = os.path.join(root, kind)
        for n in sorted(os.listdir(d)) if os.path.isdir(d) else []:
            if n.startswith("part-"):
                with open(os.path.join(d, n), encoding="utf-8") as f:
                    lines += [line.rstrip("\n") for line in f if line.strip()]
        if kind == "derived":
            ids = sorted(json.loads(line)["event_id"] for line in lines)
            out["derived"] = {"count": len(ids), "distinct": len(set(ids)),
                              "md5": hashlib.md5("\n".join(ids).encode()).hexdigest()}
        else:
            out["dlq"] = {"count": len(lines), "md5": hashlib.md5("\n".join(sorted(lines)).encode()).hexdigest()}
    json.dump(out, sys.stdout)


if __name__ == "__main__":
    main()
