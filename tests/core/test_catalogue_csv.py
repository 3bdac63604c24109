"""A catalogue as CSV (header row = field names) reads to the same products as JSON Lines, with the same reporting."""

from __future__ import annotations

import json
from pathlib import Path

from core.catalogue import read_catalogue

ROWS = [
    {
        "id": "a1",
        "language": "vi",
        "title": "Giày cao gót đen",
        "category": "Shoes > High Heels",
        "brand": "Stylo",
        "price": 21.99,
        "currency": "VND",
        "attributes": {"colour": "black", "size": "41"},
    },
    {
        "id": "a2",
        "language": "th",
        "title": 'รองเท้า, หนัง "แท้"',
        "description": "two\nlines",
        "category": "Shoes",
        "price": 5.0,
        "currency": "THB",
    },
]


def test_csv_reads_as_jsonl_does(tmp_path: Path) -> None:
    jsonl = tmp_path / "p.jsonl"
    jsonl.write_text("".join(json.dumps(r, ensure_ascii=False) + "\n" for r in ROWS), encoding="utf-8")
    csv_path = tmp_path / "p.csv"
    csv_path.write_text(
        "\ufeffid,language,title,description,category,brand,price,currency,attributes.colour,attributes.size\r\n"
        "a1,vi,Giày cao gót đen,,Shoes > High Heels,Stylo,21.99,VND,black,41\r\n"
        'a2,th,"รองเท้า, หนัง ""แท้""","two\nlines",Shoes,,5,THB,,\r\n',
        encoding="utf-8",
    )
    from_jsonl, from_csv = read_catalogue(jsonl), read_catalogue(csv_path)
    assert from_csv.errors == [] and from_jsonl.errors == []
    assert from_csv.products == from_jsonl.products


def test_bad_csv_records_are_reported_by_line_and_skipped(tmp_path: Path) -> None:
    path = tmp_path / "p.csv"
    path.write_bytes(
        b"id,language,title,category,price,currency,attributes\n"
        b'ok1,en,Black boots,Shoes,10,USD,"{""colour"": ""black""}"\n'
        b"bad1,en,Boots,Shoes,cheap,USD,\n"  # line 3: price is not a number
        b"bad2,en,Boots,Shoes,1,USD,,surplus\n"  # line 4: one field too many
        b"bad3,en,\xff\xfeBoots,Shoes,1,USD,\n"  # line 5: not UTF-8
        b"\n"
        b"bad4,en,Boots,Shoes,1,USD,[1]\n"  # line 7: attributes not an object
        b"ok1,en,Boots again,Shoes,1,USD,\n"  # line 8: duplicate id
        b'bad5,en,"two\nline title",Shoes,1\n'  # line 9 (a record over two lines): too few fields
        b"ok2,xx,Boots,Shoes,1,USD,\n"  # line 11: unknown language
        b"ok3,en,Boots,Shoes,1,USD,\n"
    )
    report = read_catalogue(path)
    assert [p.id for p in report.products] == ["ok1", "ok3"]
    assert report.products[0].attributes == {"colour": "black"}
    lines = {e.line: e.message for e in report.errors}
    assert sorted(lines) == [3, 4, 5, 7, 8, 9, 11], report.errors
    assert "price" in lines[3] and "more fields" in lines[4] and "UTF-8" in lines[5]
    assert "JSON object" in lines[7] and "duplicate id 'ok1'" in lines[8] and "fewer fields" in lines[9]
    assert "language" in lines[11]


def test_a_header_naming_a_column_twice_reads_nothing(tmp_path: Path) -> None:
    path = tmp_path / "p.csv"
    path.write_text("id,title,title\nx,a,b\n", encoding="utf-8")
    report = read_catalogue(path)
    assert report.products == [] and "twice" in report.errors[0].message
