"""The loaders of a user's own files: interaction logs, tables and labelled texts (``tandem.data``)."""

from pathlib import Path

import numpy as np
import pytest

from tandem.core.errors import ConfigError, DataError, DataNotFoundError
from tandem.data import load_interactions, load_table, load_text_file
from tandem.data.tables import read_table


def write(tmp_path: Path, name: str, text: str) -> Path:
    path = tmp_path / name
    path.write_text(text)
    return path


def test_csv_log_is_grouped_by_user_and_ordered_by_time(tmp_path: Path) -> None:
    path = write(tmp_path, "log.csv", "uid,iid,stars,when\n7,x,5,30\n7,y,2,10\n9,x,4,20\n7,z,4,20\n")
    ds = load_interactions(path, user="uid", item="iid", timestamp="when")
    assert ds.to_dict() == {7: pytest.approx([2, 3, 1]), 9: pytest.approx([1])}  # items numbered by first sight
    assert ds.n_items == 3 and ds.timestamps is not None and list(ds.timestamps) == [10, 20, 30, 20]
    kept = load_interactions(path, user="uid", item="iid", timestamp=None, rating="stars", min_rating=4)
    assert {k: list(v) for k, v in kept.to_dict().items()} == {7: [1, 2], 9: [1]}  # file order, 2-star row gone


def test_tsv_recbole_and_s3rec_give_the_same_sequences(tmp_path: Path) -> None:
    tsv = write(tmp_path, "log.tsv", "user_id\titem_id\ttimestamp\nann\t10\t2\nann\t11\t1\nbob\t10\t5\n")
    inter = write(tmp_path, "log.inter",
                  "user_id:token\titem_id:token\ttimestamp:float\nann\t10\t2\nann\t11\t1\nbob\t10\t5\n")
    s3rec = write(tmp_path, "log.txt", "1 2 1\n2 1\n")
    a, b, c = load_interactions(tsv), load_interactions(inter), load_interactions(s3rec)
    for ds in (a, b, c):
        assert [list(s) for s in ds] == [[2, 1], [1]] and ds.n_items == 2
    assert list(a.user_ids) == [1, 2]  # text ids are numbered from 1


@pytest.mark.parametrize(("name", "text", "where"), [
    ("bad.csv", "user_id,item_id,timestamp\n1,2,3\n1,3,soon\n", r"bad\.csv:3: column 'timestamp' \(3\)"),
    ("short.csv", "user_id,item_id\n1,2\n1\n", r"short\.csv:3: expected 2"),
    ("empty.csv", "user_id,item_id\n1,\n", r"empty\.csv:2: column 'item_id' \(2\): empty item id"),
    ("names.csv", "user,item\n1,2\n", r"names\.csv:1: no column 'user_id' for the users"),
    ("bad.inter", "user_id:token\titem_id\n1\t2\n", r"bad\.inter:1: column 2: header field 'item_id'"),
    ("bad.txt", "1 2 3\n2 4 x\n", r"bad\.txt:2: column 3 \(item 2\): 'x' is not an integer"),
    ("zero.txt", "1 2 3\n2 0\n", r"zero\.txt:2: column 2 \(item 1\): 0 is not positive"),
])
def test_malformed_logs_name_file_line_and_column(tmp_path: Path, name: str, text: str, where: str) -> None:
    with pytest.raises(DataError, match=where):
        load_interactions(write(tmp_path, name, text))


def test_log_argument_mistakes(tmp_path: Path) -> None:
    with pytest.raises(DataNotFoundError, match=r"nowhere\.csv"):
        load_interactions(tmp_path / "nowhere.csv")
    with pytest.raises(ConfigError, match="suffix"):
        load_interactions(write(tmp_path, "log.dat", "user_id,item_id\n1,2\n"))
    path = write(tmp_path, "log.dat", "user_id,item_id,r\n1,2,1\n")
    assert load_interactions(path, format="csv").n_interactions == 1
    with pytest.raises(ConfigError, match="min_rating"):
        load_interactions(path, format="csv", min_rating=3)
    with pytest.raises(DataError, match="no row has r >= 3"):
        load_interactions(path, format="csv", rating="r", min_rating=3)


def test_table_numeric_categorical_and_label_columns(tmp_path: Path) -> None:
    path = write(tmp_path, "t.csv", "age,city,y\n30,paris,yes\n40,oslo,no\n50,,yes\n")
    ds, names = read_table(path, label="y")
    assert names == ("no", "yes") and list(ds.y) == [1, 0, 1] and ds.n_classes == 2
    assert ds.feature_names == ("age", "city=oslo", "city=paris")
    np.testing.assert_array_equal(ds.X, np.array([[30, 0, 1], [40, 1, 0], [50, 0, 0]], dtype=np.float32))
    tsv = write(tmp_path, "t.tsv", "a\tlabel\n1.5\t2\n2\t10\n3\t2\n")
    assert list(load_table(tsv).y) == [0, 1, 0]  # integer labels in numeric order: 2 -> 0, 10 -> 1


@pytest.mark.parametrize(("text", "where"), [
    ("a,y\n1,0\nx,1\n", r"t\.csv:3: column 'a' \(1\): 'x' is not a number"),
    ("a,y\n1,0\n,1\n", r"t\.csv:3: column 'a' \(1\): empty value"),
    ("a,y\n1,0\n2,\n", r"t\.csv:3: column 'y' \(2\): empty label"),
    ("a,y\n1,0\n2,0\n", r"column 'y' \(2\): every row has label '0'"),
    ("a,b\n1,0\n", r"no label column 'y'"),
])
def test_malformed_tables_name_file_line_and_column(tmp_path: Path, text: str, where: str) -> None:
    with pytest.raises(DataError, match=where):
        load_table(write(tmp_path, "t.csv", text), label="y")


def test_parquet(tmp_path: Path) -> None:
    try:
        import pyarrow as pa
        import pyarrow.parquet as pq
    except ImportError:
        with pytest.raises(ConfigError, match="pip install pyarrow"):
            load_table(write(tmp_path, "t.parquet", "not parquet"))
        return
    path = tmp_path / "t.parquet"
    pq.write_table(pa.table({"a": [1.0, 2.0, 3.0], "c": ["x", "y", "x"], "label": [0, 1, 1]}), path)
    ds = load_table(path)
    assert ds.feature_names == ("a", "c=x", "c=y") and list(ds.y) == [0, 1, 1]
    pq.write_table(pa.table({"a": [1.0, None], "label": [0, 1]}), path)
    with pytest.raises(DataError, match=r"t\.parquet:row 2: column 'a' \(1\): empty value"):
        load_table(path)


def test_text_file(tmp_path: Path) -> None:
    path = write(tmp_path, "reviews.csv", 'review,sentiment\n"great, really",pos\nawful,neg\n"so-so\nat best",neg\n')
    ds = load_text_file(path, text="review", label="sentiment")
    assert ds.sentences == ["great, really", "awful", "so-so\nat best"] and list(ds.labels) == [1, 0, 0]
    assert ds.label_names == ("neg", "pos") and ds.split == "reviews"
    with pytest.raises(DataError, match=r"reviews\.csv:1: no column 'text' for the texts"):
        load_text_file(path)
    bad = write(tmp_path, "bad.tsv", "text\tlabel\nfine\t1\n\t0\n")
    with pytest.raises(DataError, match=r"bad\.tsv:3: column 'text' \(1\): empty text"):
        load_text_file(bad)
