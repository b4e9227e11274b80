import pytest

from config.renderers import csv_cell


@pytest.mark.parametrize(
    ("value", "cell"),
    [
        ("=1+1", "'=1+1"),
        ("+cmd", "'+cmd"),
        ("-2", "-2"),
        ("-0.10", "-0.10"),
        ("-1230", "-1230"),
        ("-1+1", "'-1+1"),
        ("-2-3", "'-2-3"),
        ("-0.10\n", "'-0.10\n"),
        ("-1e3", "'-1e3"),
        ("-٣", "'-٣"),
        ("--1", "'--1"),
        ("-.5", "'-.5"),
        ("+1", "'+1"),
        ("-", "'-"),
        ("@SUM(A1)", "'@SUM(A1)"),
        ("\tx", "'\tx"),
        ("plain", "plain"),
        (-0.5, "-0.5"),
        (3, "3"),
        (None, ""),
        ({"a": "=x"}, '{"a": "=x"}'),
        (["-a"], '["-a"]'),
    ],
)
def test_csv_cells_never_start_a_formula(value, cell):
    assert csv_cell(value) == cell
