"""conversation_states: each packet's conntrack state per host, over a whole TCP connection."""
from __future__ import annotations

from kplab.k8s import find_data_dir, load_cluster
from kplab.views.conversation import conversation_states
from kplab.walk import Connection, network


def _connection():
    cluster = load_cluster(find_data_dir() / "article")
    pod = next(k for k in cluster.pods if k.startswith("default/auth-"))
    return Connection(network(cluster), pod, "default/webapp", port=80)


def test_first_packet_new_everything_after_established():
    con = _connection()
    table = conversation_states(con.handshake())
    assert table.hosts == ("minikube", "minikube-m02")  # the pods' namespaces have no conntrack
    states = [row[3] for row in table.rows]
    assert set(states[0]) == {"NEW"}
    assert all(set(s) == {"ESTABLISHED"} for s in states[1:]), states
    assert [row[1].split("[")[1] for row in table.rows[:2]] == ["SYN]", "SYN,ACK]"]
    assert "ESTABLISHED" in str(table) and 'data-testid="conversation-states"' in table._repr_html_()


def test_a_stray_packet_is_invalid_and_dropped():
    con = _connection()
    con.handshake()
    table = conversation_states([con.stray()])
    assert table.rows[0][2] == "DROP"
    assert "INVALID" in table.rows[0][3]
