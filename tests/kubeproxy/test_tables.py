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


def test_the_target_is_read_as_iptables_reads_the_rule():
    # a comment's words are a value, not a jump: the rule below jumps to KUBE-A, not to NOWHERE (iptables 1.8.9
    # restores it and saves it back as `-A PREROUTING -m comment --comment "see -g NOWHERE" -j KUBE-A`)
    t = NodeTables()
    t.restore('*nat\n:KUBE-A - [0:0]\n-A PREROUTING -j KUBE-A -m comment --comment "see -g NOWHERE"\nCOMMIT\n')
    assert t.jump_target(t.rules("nat", "PREROUTING")[0]) == "KUBE-A"
    with pytest.raises(RestoreError, match="Too many links"):
        t.restore("*nat\n-X KUBE-A\nCOMMIT\n")
    assert t.jump_target("-m comment --comment x") is None and t.jump_target("-g KUBE-A") == "KUBE-A"


def test_a_broken_rule_is_refused_naming_its_line():
    t = NodeTables()
    with pytest.raises(RestoreError, match="<payload>:3: unbalanced quotes"):
        t.restore('*nat\n:KUBE-A - [0:0]\n-A KUBE-A -m comment --comment "open -j ACCEPT\nCOMMIT\n', source="<payload>")
    assert not t.has_chain("nat", "KUBE-A")


def test_a_copy_is_independent():
    t = NodeTables()
    t.restore("*nat\n:KUBE-A - [0:0]\n-A KUBE-A -j ACCEPT\nCOMMIT\n")
    other = t.copy()
    other.restore("*nat\n:KUBE-A - [0:0]\n:KUBE-B - [0:0]\nCOMMIT\n")
    assert t.rules("nat", "KUBE-A") == ["-j ACCEPT"] and not t.has_chain("nat", "KUBE-B")
    assert other.rules("nat", "KUBE-A") == [] and other.has_chain("nat", "KUBE-B")
