"""kubectl-style rows as DataFrames for the notebooks."""
from pathlib import Path

from kplab.k8s import load_cluster
from kplab.views.kubectl import pods_frame, services_frame

DATA = Path(__file__).resolve().parents[2] / "data"


def test_frames():
    c = load_cluster(DATA / "article")
    pods = pods_frame(c)
    assert list(pods.columns) == ["NAMESPACE", "NAME", "READY", "STATUS", "IP", "NODE"]
    assert set(pods["IP"]) >= {"10.244.120.102", "10.244.120.103"}
    services = services_frame(c)
    assert services.set_index("NAME").loc["frontend", "PORT(S)"] == "80/TCP"


def test_reach_frame_one_row_per_record():
    from kplab.views.reach import reach_frame

    rows = [{"from": "default/a", "to": "default/b", "port": 80, "protocol": "TCP", "allowed": False,
             "policies": ["default/deny"], "reason": "isolated"},
            {"from": "default/b", "to": "default/a", "port": 80, "protocol": "TCP", "allowed": True,
             "policies": [], "reason": "no policy"}]
    frame = reach_frame(rows)
    assert list(frame["verdict"]) == ["DENIED", "allowed"] and list(frame["port"]) == ["80/TCP", "80/TCP"]
    assert frame.iloc[0]["policies"] == "default/deny" and frame.iloc[1]["why"] == "no policy"
    assert list(reach_frame([]).columns) == ["from", "to", "port", "verdict", "policies", "why"]
