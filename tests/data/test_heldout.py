"""The held-out set builders and the wordnet vocabulary, on tiny git repositories made here (no mirror needed)."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import pytest

from data import vocabulary
from data.heldout import osm_presets, tldr_pages, wordnet_nouns


def make_repo(root: Path, files: dict[str, str]) -> Path:
    """A bare-enough git repository holding ``files``; returns its git directory."""
    for name, text in files.items():
        path = root / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text, encoding="utf-8")
    env = ["-c", "user.email=t@example.com", "-c", "user.name=t"]
    subprocess.run(["git", "init", "-q", str(root)], check=True)
    subprocess.run(["git", "-C", str(root), "add", "-A"], check=True)
    subprocess.run(["git", *env, "-C", str(root), "commit", "-q", "-m", "x"], check=True)
    return root / ".git"


ENGLISH_PAGE = """# tar

> Archiving utility.
> More information: <https://example.org>.

- [c]reate an archive from files:

`tar cf {{target.tar}} {{file1}}`

- E[x]tract an archive into the current directory:

`tar xf {{source.tar}}`

- List the contents of an archive:

`tar tvf {{source.tar}}`
"""

THAI_PAGE = """# tar

> เครื่องมือจัดเก็บไฟล์

- แตกไฟล์ลงในไดเรกทอรีปัจจุบัน:

`tar xf {{ไฟล์ต้นทาง.tar}}`

- สร้างไฟล์เก็บถาวรจากไฟล์:

`tar cf {{เป้าหมาย.tar}} {{ไฟล์1}}`
"""


def test_tldr_pairs_examples_by_command_not_by_order(tmp_path: Path) -> None:
    pairs = dict(tldr_pages.page_pairs(ENGLISH_PAGE, THAI_PAGE))
    # the Thai page lists its examples in another order and leaves one out: each is paired by its command
    assert pairs["Extract an archive into the current directory"] == "แตกไฟล์ลงในไดเรกทอรีปัจจุบัน"
    assert pairs["create an archive from files"] == "สร้างไฟล์เก็บถาวรจากไฟล์"
    assert pairs["Archiving utility."] == "เครื่องมือจัดเก็บไฟล์"
    assert "List the contents of an archive" not in pairs


def test_tldr_build_writes_only_translated_languages(tmp_path: Path) -> None:
    alias = "# x\n\n> This command is an alias of `tar`.\n"
    repo = make_repo(
        tmp_path / "tldr",
        {
            "pages/common/tar.md": ENGLISH_PAGE,
            "pages.th/common/tar.md": THAI_PAGE,
            "pages/common/y.md": alias,
            "pages.th/common/y.md": "# y\n\n> นามแฝง\n",
        },
    )
    counts = tldr_pages.build(repo, "HEAD", tmp_path / "out", 100)
    assert counts == {"th": 3}  # the alias boilerplate is left out
    rows = (tmp_path / "out" / "th.tsv").read_text(encoding="utf-8").splitlines()
    assert all(len(r.split("\t")) == 2 for r in rows)
    assert json.loads((tmp_path / "out" / "SOURCES.json").read_text())["licence"] == "CC BY 4.0"


def test_osm_presets_pair_names_by_preset_and_drop_thin_languages(tmp_path: Path) -> None:
    def doc(locale: str, names: dict[str, str]) -> str:
        return json.dumps({locale: {"presets": {"presets": {k: {"name": v} for k, v in names.items()}}}})

    english = {"shop/shoes": "Shoe Store", "shop/bakery": "Bakery", "amenity/cafe": "Cafe"}
    repo = make_repo(
        tmp_path / "schema",
        {
            "dist/translations/en.json": doc("en", english),
            "dist/translations/vi.json": doc(
                "vi", {"shop/shoes": "Tiệm Giày", "shop/bakery": "Tiệm Bánh", "amenity/cafe": "Cafe"}
            ),  # same as English: left out
            "dist/translations/tl.json": doc("tl", {"shop/shoes": "Tindahan ng sapatos"}),
        },
    )
    counts = osm_presets.build(repo, "HEAD", tmp_path / "out", min_pairs=2)
    assert counts == {"vi": 2}
    rows = set((tmp_path / "out" / "vi.tsv").read_text(encoding="utf-8").splitlines())
    assert rows == {"Shoe Store\tTiệm Giày", "Bakery\tTiệm Bánh"}


def _synset_in(split: str, start: int) -> str:
    for offset in range(start, start + 10_000):
        synset = f"{offset:08d}-n"
        if wordnet_nouns.split_of(synset) == split:
            return synset
    raise AssertionError(split)


@pytest.fixture
def wordnet(tmp_path: Path) -> tuple[Path, Path, dict[str, str]]:
    test, dev, train = _synset_in("test", 1000), _synset_in("dev", 20000), _synset_in("train", 40000)
    other = _synset_in("test", 60000)  # a test-bucket synset that is not a product noun (lexfile 03)
    pwn = tmp_path / "pwn"
    pwn.mkdir()
    lines = [
        f"{test[:8]} 06 n 01 shoe 0 000 | footwear",
        f"{dev[:8]} 13 n 01 bread 0 000 | food",
        f"{train[:8]} 06 n 01 kettle 0 000 | a pot",
        f"{other[:8]} 03 n 01 hand 0 000 | body part",
    ]
    (pwn / "data.noun").write_text("  header line\n" + "\n".join(lines) + "\n", encoding="utf-8")
    (pwn / "data.verb").write_text("00001740 29 v 01 run 0 000 | move fast\n", encoding="utf-8")
    for name in ("adj", "adv"):
        (pwn / f"data.{name}").write_text("", encoding="utf-8")
    tab = (
        "\n".join(
            [
                "# Wiktionary\tvie",
                f"{test}\tvie:lemma\tgiày",
                f"{dev}\tvie:lemma\tbánh mì",
                f"{train}\tvie:lemma\tấm đun",
                f"{train}\tvie:lemma\tgiày",  # a held-out word: left out
                f"{other}\tvie:lemma\tbàn tay",
                "00001740-v\tvie:lemma\tchạy",
            ]
        )
        + "\n"
    )
    files = {f"wns/{name}.tab": "" for names in wordnet_nouns.LANGS.values() for name in names}
    files["wns/wikt/wn-wikt-vie.tab"] = tab
    files["wns/cldr/wn-cldr-vie.tab"] = f"{train}\tvie:lemma\tSHOULD NOT BE READ\n"
    repo = make_repo(tmp_path / "omw", files)
    return repo, pwn, {"test": test, "dev": dev, "train": train}


def test_wordnet_split_and_vocabulary_are_disjoint(wordnet, tmp_path: Path) -> None:
    repo, pwn, _ = wordnet
    counts = wordnet_nouns.build(repo, "HEAD", pwn / "data.noun", tmp_path / "out", 100)
    assert counts["test"]["vi"] == 1 and counts["dev"]["vi"] == 1
    assert (tmp_path / "out" / "test" / "vi.tsv").read_text(encoding="utf-8") == "shoe\tgiày\n"
    assert (tmp_path / "out" / "dev" / "vi.tsv").read_text(encoding="utf-8") == "bread\tbánh mì\n"
    rows = vocabulary.entries(repo, "HEAD", pwn)
    assert ("vi", "ấm đun", "kettle") in rows and ("vi", "chạy", "run") in rows
    assert ("vi", "bàn tay", "hand") in rows  # test bucket, but not a product noun: not held out
    words = {w.lower() for _, xx, en in rows for w in (xx, en)}
    assert not words & {"shoe", "giày", "bread", "bánh mì"}  # nothing of a test or dev row
    assert not any("SHOULD NOT" in xx for _, xx, _ in rows)  # CLDR is never read


def test_vocabulary_file_round_trip(wordnet, tmp_path: Path) -> None:
    repo, pwn, _ = wordnet
    out = tmp_path / "voc.tsv"
    assert vocabulary.main(["--omw", str(repo), "--pwn", str(pwn), "--out", str(out)]) == 0
    assert vocabulary.read_vocabulary(out) == vocabulary.entries(repo, "HEAD", pwn)
    assert json.loads(out.with_suffix(".json").read_text())["counts"] == {"vi": 3}


def test_wordnet_catalogue_lists_products_and_judges_by_the_wordnet(tmp_path: Path) -> None:
    from data.heldout import wordnet_catalogue

    shoe, sneaker, house = _synset_in("test", 1000), _synset_in("test", 5000), _synset_in("test", 9000)
    footwear, kettle = _synset_in("train", 20000), _synset_in("train", 30000)
    structure = "04341686-n"  # buildings are not products: everything below it is left out

    def line(synset: str, lexfile: str, words: list[str], hyper: list[str], hypo: list[str], gloss: str) -> str:
        ptrs = [f"@ {h[:8]} n 0000" for h in hyper] + [f"~ {h[:8]} n 0000" for h in hypo]
        lemmas = " ".join(f"{w} 0" for w in words)
        return f"{synset[:8]} {lexfile} n {len(words):02x} {lemmas} {len(ptrs):03d} {' '.join(ptrs)} | {gloss}"

    pwn = tmp_path / "data.noun"
    pwn.write_text(
        "  header\n"
        + "\n".join(
            [
                line(footwear, "06", ["footwear"], [], [shoe], "clothing for the feet"),
                line(shoe, "06", ["shoe"], [footwear], [sneaker], "footwear shaped to fit the foot"),
                line(sneaker, "06", ["sneaker", "gym_shoe"], [shoe], [], "a canvas shoe"),
                line(structure, "06", ["structure"], [], [house], "a thing constructed"),
                line(house, "06", ["house"], [structure], [], "a dwelling"),
                line(kettle, "06", ["kettle"], [], [], "a pot"),
            ]
        )
        + "\n",
        encoding="utf-8",
    )
    tab = (
        "\n".join(
            [
                f"{shoe}\tvie:lemma\tgiày",
                f"{shoe}\tvie:lemma\tgiầy",
                f"{sneaker}\tvie:lemma\tgiày thể thao",
                f"{footwear}\tvie:lemma\tgiày dép",
                f"{house}\tvie:lemma\tnhà",
                f"{kettle}\tvie:lemma\tấm đun",
            ]
        )
        + "\n"
    )
    files = {f"wns/{name}.tab": "" for names in wordnet_nouns.LANGS.values() for name in names}
    files["wns/wikt/wn-wikt-vie.tab"] = tab
    files["wns/cldr/wn-cldr-vie.tab"] = f"{shoe}\tvie:lemma\tSHOULD NOT BE READ\n"
    repo = make_repo(tmp_path / "omw", files)
    out = tmp_path / "bench"
    wordnet_catalogue.build(repo, "HEAD", pwn, out, per_language=100, seed=0)

    products = {p["id"]: p for p in map(json.loads, (out / "products.jsonl").read_text("utf-8").splitlines())}
    # test/dev product synsets only: no building (below structure), no train synset (kettle, footwear)
    assert set(products) == {f"vi-{shoe}", f"vi-{sneaker}", f"en-{shoe}", f"en-{sneaker}"}
    assert products[f"vi-{shoe}"]["title"] == "giày" and products[f"en-{sneaker}"]["description"] == "a canvas shoe"
    assert products[f"vi-{sneaker}"]["category"] == "Footwear > Shoe"
    queries = [json.loads(x) for x in (out / "queries.test.jsonl").read_text("utf-8").splitlines()]
    by_text = {q["text"]: q for q in queries}
    assert not any("SHOULD NOT" in q["text"] for q in queries)
    clean = by_text["giầy"]  # the title's synonym, not the title itself
    assert clean["noise"] == "clean" and clean["language"] == "vi"
    # the synset's listings in both languages are exact matches, its hyponym's listings partial ones
    assert clean["relevant"] == {f"vi-{shoe}": 2, f"en-{shoe}": 2, f"vi-{sneaker}": 1, f"en-{sneaker}": 1}
    assert by_text["giay"]["noise"] == "no_diacritics" and by_text["giay"]["relevant"] == clean["relevant"]
    assert by_text["shoe"]["noise"] == "cross_lingual_en"
    # code-mixed: the hypernym's native name and the English lemma
    mixed = [q for q in queries if q["noise"] == "code_mixed" and q["relevant"].get(f"vi-{sneaker}") == 2]
    assert [q["text"] for q in mixed] in (["giày sneaker"], ["giày gym shoe"])
    sources = json.loads((out / "SOURCES.json").read_text())
    assert sources["products"] == {"en": 2, "vi": 2} and sources["omw_data"]["licences"]["wikt"] == "CC BY-SA 3.0"
