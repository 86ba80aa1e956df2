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
