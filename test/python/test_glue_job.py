"""The Glue job (jobs/glue/extract_features.py): argument handling in Glue and locally, the SQL
split (same rule as lib/features/feature-sql.ts), and one real run on local pyspark checking the
point-in-time rules on a hand-made history. Engine parity with DuckDB on a generated file is
proven in test/integration/features/engine-parity.test.ts."""

from __future__ import annotations

import datetime as dt
import importlib.util
import json
import sys
import types
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

ROOT = Path(__file__).resolve().parents[2]
SQL_PATH = ROOT / "lib" / "features" / "sql" / "features.sql"


def load_job():
    spec = importlib.util.spec_from_file_location("extract_features", ROOT / "jobs" / "glue" / "extract_features.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


job = load_job()


def test_split_statements_finds_the_views_and_the_two_queries_in_file_order():
    statements = job.split_statements(SQL_PATH.read_text())
    assert list(statements) == ["feature_loans", "feature_loan_days", "feature_history", "features", "online"]
    assert statements["feature_loans"].lstrip().splitlines()[-1].strip() == "FROM raw_valid"
    assert not statements["online"].rstrip().endswith(";")


def test_split_statements_rejects_a_file_without_both_queries_or_with_a_name_twice():
    with pytest.raises(ValueError, match='"online"'):
        job.split_statements("-- name: features\nSELECT 1\n")
    with pytest.raises(ValueError, match="twice"):
        job.split_statements("-- name: features\nSELECT 1\n-- name: features\nSELECT 2\n")


def test_local_arguments_accept_glue_names_and_dashed_names():
    args = job.parse_args(["job.py", "--input", "in.parquet", "--output", "out", "--sql-path", "f.sql", "--as_of", "2024-01-01"])
    assert args["input"] == "in.parquet"
    assert args["sql_path"] == "f.sql"
    assert args["as_of"] == "2024-01-01"
    assert args["shuffle_partitions"] is None


def test_local_arguments_require_input_output_and_some_sql():
    with pytest.raises(SystemExit):
        job.parse_args(["job.py", "--output", "out", "--sql_path", "f.sql"])
    with pytest.raises(SystemExit, match="--sql_path or --sql"):
        job.parse_args(["job.py", "--input", "i", "--output", "o"])


def test_in_glue_the_resolver_is_asked_only_for_the_arguments_that_were_passed(monkeypatch):
    asked: list[list[str]] = []

    def get_resolved_options(argv, names):
        asked.append(list(names))
        return {name: argv[argv.index(f"--{name}") + 1] for name in names}

    utils = types.ModuleType("awsglue.utils")
    utils.getResolvedOptions = get_resolved_options
    monkeypatch.setitem(sys.modules, "awsglue", types.ModuleType("awsglue"))
    monkeypatch.setitem(sys.modules, "awsglue.utils", utils)
    argv = ["job.py", "--JOB_NAME", "x", "--input", "s3://b/valid/", "--output", "s3://b/out/", "--sql_path", "s3://b/features.sql"]
    args = job.parse_args(argv)
    assert asked == [["input", "output", "sql_path"]]
    assert args["output"] == "s3://b/out/"
    assert args["as_of"] is None


def test_in_glue_the_arguments_of_the_job_definition_and_the_state_machine_resolve(monkeypatch):
    """The argv Glue builds from infra/resources/glue.yml's DefaultArguments and the training state
    machine's Arguments, through a resolver with the real one's rule (argparse, exact names, other
    arguments ignored): every name the job reads is found, none is silently dropped."""
    import argparse
    import re

    def get_resolved_options(argv, names):
        parser = argparse.ArgumentParser()
        for name in names:
            parser.add_argument(f"--{name}", required=True)
        parsed, _ = parser.parse_known_args(argv[1:])
        return vars(parsed)

    utils = types.ModuleType("awsglue.utils")
    utils.getResolvedOptions = get_resolved_options
    monkeypatch.setitem(sys.modules, "awsglue", types.ModuleType("awsglue"))
    monkeypatch.setitem(sys.modules, "awsglue.utils", utils)

    glue_yml = (ROOT / "infra" / "resources" / "glue.yml").read_text()
    defaults = dict(re.findall(r"^ {8}(--[A-Za-z_-]+): (.+)$", glue_yml, re.M))
    machine = json.loads((ROOT / "state-machines" / "training.asl.json").read_text())
    per_run = machine["States"]["ExtractFeaturesGlue"]["Parameters"]["Arguments"]
    argv = ["job.py", "--JOB_ID", "j_1", "--job-bookmark-option", "job-bookmark-disable"]
    for name, value in defaults.items():
        argv += [name, value]
    for name in per_run:
        argv += [name.removesuffix(".$"), f"value-of-{name}"]
    args = job.parse_args(argv)
    assert args["sql_path"] == defaults["--sql_path"]
    assert args["input"] == "value-of---input.$"
    assert args["output"] == "value-of---output.$"
    assert args["as_of"] == "value-of---as_of.$"


def write_history(path: Path) -> None:
    """Customer 1: born on a leap day, three loans on one day; customer 2: the 365243 sentinel."""
    d = dt.date.fromisoformat
    rows = [
        # loan_id, id, loan_date, status, birthday, job_start_date, flag_own_car, income, amount, gender
        (1, 1, d("2021-02-28"), 0, d("1992-02-29"), d("2015-06-01"), "Y", 100000.0, 100.5, "F"),
        (2, 1, d("2021-03-01"), 1, d("1992-02-29"), d("2015-06-01"), "Y", 100000.0, 50.25, "F"),
        (3, 1, d("2021-03-01"), 0, d("1992-02-29"), d("2015-06-01"), "Y", 100000.0, 10.0, "F"),
        (4, 1, d("2021-03-01"), 0, d("1992-02-29"), d("2015-06-01"), "Y", 100000.0, 0.1, "F"),
        (5, 1, d("2024-02-29"), 0, d("1992-02-29"), d("2015-06-01"), "Y", 120000.0, 0.2, "F"),
        (6, 2, d("2022-06-30"), 0, d("1960-07-01"), d("3020-05-17"), "N", 50000.0, 99.99, "M"),
    ]
    columns = ["loan_id", "id", "loan_date", "status", "birthday", "job_start_date", "flag_own_car", "amt_income_total", "loan_amount", "code_gender"]
    types_ = [pa.int64(), pa.int64(), pa.date32(), pa.int32(), pa.date32(), pa.date32(), pa.string(), pa.float64(), pa.float64(), pa.string()]
    table = pa.table({c: pa.array([r[i] for r in rows], type=t) for i, (c, t) in enumerate(zip(columns, types_))})
    pq.write_table(table, path)


def test_the_job_runs_the_feature_sql_on_local_spark(tmp_path, capsys):
    source = tmp_path / "raw_valid.parquet"
    write_history(source)
    out = tmp_path / "out"
    code = job.main(
        ["job.py", "--input", str(source), "--output", str(out), "--sql_path", str(SQL_PATH), "--as_of", "2024-12-31", "--shuffle_partitions", "1"]
    )
    assert code == 0
    report = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert report["rows"] == {"features": 6, "online": 2}
    assert report["asOf"] == "2024-12-31"

    features = {r["loan_id"]: r for r in pq.read_table(out / "features").to_pylist()}
    assert list(next(iter(features.values())).keys())[:9] == [
        "loan_id", "id", "loan_date", "status", "nb_previous_loans", "avg_amount_loans_previous", "age", "years_on_the_job", "flag_own_car",
    ]
    # the first loan: nothing before it
    assert (features[1]["nb_previous_loans"], features[1]["avg_amount_loans_previous"], features[1]["days_since_previous_loan"]) == (0, None, None)
    # three loans on one day see only the loan before that day, not each other
    for loan_id in (2, 3, 4):
        assert (features[loan_id]["nb_previous_loans"], features[loan_id]["avg_amount_loans_previous"]) == (1, 100.5)
    assert features[5]["nb_previous_loans"] == 4
    assert features[5]["avg_amount_loans_previous"] == 160.85 / 4
    # leap-day birthday: not yet 29 on 2021-02-28, 29 on 2021-03-01, 32 on 2024-02-29
    assert [features[i]["age"] for i in (1, 2, 5)] == [28, 29, 32]
    # the 365243 sentinel: no years on the job (not -1000)
    assert features[6]["years_on_the_job"] is None
    assert features[1]["years_on_the_job"] == 5
    assert [features[i]["flag_own_car"] for i in (1, 6)] == [1, 0]
    # protected attributes travel last, never as features: gender as given, the age band at the loan date
    assert list(features[1].keys())[-2:] == ["code_gender", "age_band"]
    assert [(features[i]["code_gender"], features[i]["age_band"]) for i in (1, 5, 6)] == [("F", "25-34"), ("F", "25-34"), ("M", "55-64")]

    online = {r["id"]: r for r in pq.read_table(out / "online").to_pylist()}
    assert online["1"]["nb_loans"] == 5
    assert online["1"]["nb_loans_before_last_date"] == 4
    assert online["1"]["last_loan_date"] == dt.date(2024, 2, 29)
    assert online["1"]["previous_loan_date"] == dt.date(2021, 3, 1)
    assert online["1"]["amt_income_total"] == 120000.0
