"""Rewrites a bundled DMS CSV fixture in the shapes AWS DMS writes, for the DMS source tests.

Usage: dms_shapes.py '<job JSON>' with
  src          the fixture (headerless full load, or CDC with or without a header)
  csv_out      where to write the CSV (optional)
  parquet_out  where to write the Parquet (optional)
  header       write a header row into the CSV
  bonus        add a trailing BONUS column (SALARY / 10 + 0.25, empty for deletes)

Rows Parquet cannot type (a wrong field count, a non-numeric SALARY) are left out of both
outputs, so the CSV and the Parquet carry the same rows in the same positions. Parquet types are
DMS's: Op a string, the commit time and Oracle DATEs timestamps, NUMBER(p,s) decimals, NUMBER(6)
int32, NUMBER(4) int32, the manager id int64; the full load has no Op column.
"""
import csv
import datetime
import decimal
import json
import sys

import pyarrow as pa
import pyarrow.parquet as pq

job = json.loads(sys.argv[1])
COLS = ["EMPLOYEE_ID", "FIRST_NAME", "LAST_NAME", "EMAIL", "PHONE_NUMBER", "HIRE_DATE",
        "JOB_ID", "SALARY", "COMMISSION_PCT", "MANAGER_ID", "DEPARTMENT_ID"]
rows = list(csv.reader(open(job["src"], newline="")))
if rows and rows[0][0] == "Op":
    rows = rows[1:]
full_load = "LOAD" in job["src"].rsplit("/", 1)[-1]
names = ([] if full_load else ["Op"]) + ["dms_commit_ts"] + COLS


def numeric(v):
    try:
        decimal.Decimal(v)
        return True
    except decimal.InvalidOperation:
        return v == ""


kept = [r for r in rows if len(r) == len(names) and numeric(r[names.index("SALARY")])]
if job.get("bonus"):
    names.append("BONUS")
    for r in kept:
        sal = r[names.index("SALARY")]
        deleted = not full_load and r[0] == "D"
        r.append("" if deleted or sal == "" else str(decimal.Decimal(sal) / 10 + decimal.Decimal("0.25")))

if job.get("csv_out"):
    with open(job["csv_out"], "w", newline="") as f:
        w = csv.writer(f, lineterminator="\n")
        if job.get("header"):
            w.writerow(names)
        w.writerows(kept)


def ts(v):
    return datetime.datetime.strptime(v, "%Y-%m-%d %H:%M:%S.%f") if v else None


def oracle_date(v):
    return datetime.datetime.strptime(v, "%m/%d/%y %H:%M") if v else None


def dec(scale):
    q = decimal.Decimal(1).scaleb(-scale)
    return lambda v: decimal.Decimal(v).quantize(q) if v else None


def num(v):
    return int(v) if v else None


TYPES = {
    "Op": (pa.string(), lambda v: v),
    "dms_commit_ts": (pa.timestamp("us"), ts),
    "EMPLOYEE_ID": (pa.int32(), num),
    "HIRE_DATE": (pa.timestamp("ms"), oracle_date),
    "SALARY": (pa.decimal128(8, 2), dec(2)),
    "COMMISSION_PCT": (pa.decimal128(2, 2), dec(2)),
    "MANAGER_ID": (pa.int64(), num),
    "DEPARTMENT_ID": (pa.int32(), num),
    "BONUS": (pa.decimal128(9, 3), dec(3)),
}

if job.get("parquet_out"):
    arrays, fields = [], []
    for i, n in enumerate(names):
        ty, conv = TYPES.get(n, (pa.string(), lambda v: v or None))
        arrays.append(pa.array([conv(r[i]) for r in kept], type=ty))
        fields.append(pa.field(n, ty))
    pq.write_table(pa.Table.from_arrays(arrays, schema=pa.schema(fields)), job["parquet_out"])
print(json.dumps({"rows": len(kept), "names": names}))
