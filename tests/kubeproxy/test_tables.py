import pytest

from kplab.kubeproxy.tables import NodeTables, RestoreError


def test_restore_creates_flushes_and_deletes():
    t = NodeTables()
    t.restore("*nat\n:KUBE-A - [0:0]\n:KUBE-B - [0:0]\n-A KUBE-A -j KUBE-B\n-A KUBE-B -j ACCEPT\nCOMMIT\n")
    assert t.rules("nat", "KUBE-A") == ["-j KUBE-B"]
    t.restore("*nat\n:KUBE-A - [0:0]\n:KUBE-B - [0:0]\n-X KUBE-B\nCOMMIT\n")
    assert not t.has_chain("nat", "KUBE-B") and t.rules("nat", "KUBE-A") == []


def test_restore_is_atomic_per_table_and_refuses_dangling_deletes():
    t = NodeTables()
    t.restore("*nat\n:KUBE-A - [0:0]\n:KUBE-B - [0:0]\n-A KUBE-A -j KUBE-B\nCOMMIT\n")
    with pytest.raises(RestoreError, match="Too many links"):
        t.restore("*nat\n:KUBE-B - [0:0]\n:KUBE-C - [0:0]\n-X KUBE-B\nCOMMIT\n")
    assert not t.has_chain("nat", "KUBE-C")  # nothing of the failed table applied
    with pytest.raises(RestoreError, match="not a chain"):
        t.restore("*nat\n-A KUBE-A -j KUBE-NOPE\nCOMMIT\n")
