"""kplab.exercises: right answers, wrong answers (with the hop where they part ways) and unreadable answers (a clear
message, no exception) for every checker. The truth is always the trace; these tests hold the checkers to it on the
article's cluster and the NodePort scenarios, and on a three-replica Service for the 1/3 shares."""
from __future__ import annotations

from fractions import Fraction
from pathlib import Path

import pytest

from kplab import exercises as x
from kplab.k8s import find_data_dir, load_cluster

DATA = find_data_dir(Path(__file__).parent)


@pytest.fixture(scope="module")
def article():
    return load_cluster(DATA / "article")


@pytest.fixture(scope="module")
def local():
    return load_cluster(DATA / "nodeport-local")


@pytest.fixture(scope="module")
def auth(article) -> str:
    return sorted(k for k in article.pods if k.startswith("default/auth-"))[0]


WEBAPP = ("10.244.120.102:80", "10.244.120.103:80")


@pytest.mark.parametrize("answer", [
    "10.244.120.102:80 1/2, 10.244.120.103:80 1/2",
    "10.244.120.103:80 50%; 10.244.120.102:80 50%",
    "10.244.120.102:80 = 0.5\n10.244.120.103:80 = 0.5",
    "10.244.120.102:80 (1/2), 10.244.120.103:80 (1/2)",
    "10.244.120.102:80, 10.244.120.103:80",
    "10.244.120.102, 10.244.120.103",
])
def test_endpoints_right(article, auth, answer):
    check = x.check_endpoints(article, auth, "default/webapp", answer)
    assert check.correct is True and bool(check), check
    assert check.hop is None and all(e in check.message for e in WEBAPP)


def test_endpoints_missing_one_parts_ways_at_the_dnat(article, auth):
    check = x.check_endpoints(article, auth, "default/webapp", "10.244.120.102:80")
    assert check.correct is False and not check
    assert "10.244.120.103:80" in check.message
    assert (check.hop, check.host) == (2, "minikube") and "DNAT" in check.rule
    assert "EndpointSlice" in check.hint


def test_endpoints_wrong_shares(article, auth):
    check = x.check_endpoints(article, auth, "default/webapp", "10.244.120.102:80 1/3, 10.244.120.103:80 2/3")
    assert check.correct is False and "wrong shares" in check.message and "1/2" in check.message
    assert check.host == "minikube"


def test_endpoints_extra_one(article, auth):
    check = x.check_endpoints(article, auth, "default/webapp", "10.244.120.102:80, 10.244.120.103:80, 10.244.0.9:80")
    assert check.correct is False and "never reaches 10.244.0.9:80" in check.message


def test_three_endpoints_get_a_third_each(tmp_path):
    (tmp_path / "app.yaml").write_text("""
apiVersion: apps/v1
kind: Deployment
metadata: {name: web}
spec:
  replicas: 3
  selector: {matchLabels: {app: web}}
  template:
    metadata: {labels: {app: web}}
    spec: {containers: [{name: c, image: nginx, ports: [{containerPort: 8080}]}]}
---
apiVersion: v1
kind: Service
metadata: {name: web}
spec:
  selector: {app: web}
  ports: [{port: 80, targetPort: 8080}]
""")
    c = load_cluster(tmp_path)
    ends = sorted(f"{p.ip}:8080" for p in c.pods.values() if p.name.startswith("web-"))
    src = "default/" + next(p.name for p in c.pods.values() if p.name.startswith("web-"))
    right = ", ".join(f"{e} 1/3" for e in ends)
    assert x.check_endpoints(c, src, "default/web", right).correct is True
    # the rule probabilities 1/3, 1/2, 1 read as shares: the classic mistake
    naive = f"{ends[0]} 1/3, {ends[1]} 1/2, {ends[2]} 1"
    check = x.check_endpoints(c, src, "default/web", naive)
    assert check.correct is False and "1/(endpoints still left)" in check.hint


@pytest.mark.parametrize("answer, problem", [
    ("import os", "could not read 'import os'"),
    ("__import__('os').system('true')", "could not read"),
    ("10.244.120.102:80 banana", "not a share"),
    ("10.244.120.102:80 3/2", "not a share"),
    ("10.244.120.102:80 1/0", "not a share"),
    ("999.1.1.1:80", "could not read"),
    ("10.244.120.102:80 1/2, 10.244.120.103:80", "for every endpoint or for none"),
    ("", "Write your prediction"),
    ("   ", "Write your prediction"),
])
def test_endpoints_unreadable_answers_say_what_form_is_expected(article, auth, answer, problem):
    check = x.check_endpoints(article, auth, "default/webapp", answer)
    assert check.correct is None and not check
    assert problem in check.message


def test_source_seen_outside_is_the_node_address(article, auth):
    right = x.check_source_seen(article, auth, "8.8.8.8", "192.168.49.2", port=80)
    assert right.correct is True and "192.168.49.2" in right.message
    wrong = x.check_source_seen(article, auth, "8.8.8.8", "10.244.0.3", port=80)
    assert wrong.correct is False
    assert (wrong.hop, wrong.host) == (2, "minikube") and "MASQUERADE" in wrong.rule


def test_source_seen_pod_to_pod_is_the_pod(article, auth):
    pod_ip = article.pods[auth].ip
    assert x.check_source_seen(article, auth, "default/webapp", pod_ip).correct is True
    wrong = x.check_source_seen(article, auth, "default/webapp", "192.168.49.2")
    assert wrong.correct is False and pod_ip in wrong.message
    assert wrong.hop == 1 and pod_ip in wrong.rule  # it never carried the node address


def test_source_seen_hint_says_what_this_packet_meets(article, auth):
    """The hint is true of the packet asked about: no rewrite pod to pod, a rewrite to the outside, and for a
    hairpin (a pod reaching itself through its Service) a rewrite on some of the ways only."""
    assert "no rule" in x.check_source_seen(article, auth, "default/webapp", "192.168.49.2").hint
    outside = x.check_source_seen(article, auth, "8.8.8.8", "10.244.0.3", port=80).hint
    assert "rewrites it;" in outside and "never NATed" not in outside
    hairpin = x.check_source_seen(article, "default/pod/webapp-d6989d74-7bqwt", "default/svc/webapp", "10.244.120.102")
    assert hairpin.correct is False and "on some of the ways" in hairpin.hint


def test_source_seen_with_port_and_unreadable(article, auth):
    pod_ip = article.pods[auth].ip
    assert x.check_source_seen(article, auth, "default/webapp", f"{pod_ip}:43210").correct is True
    assert x.check_source_seen(article, auth, "default/webapp", f"{pod_ip}:1").correct is False
    for bad in ("the node", "10.0.0", "1.2.3.4.5"):
        check = x.check_source_seen(article, auth, "default/webapp", bad)
        assert check.correct is None and "IPv4 address" in check.message


def test_source_seen_eTP_local_keeps_the_client(local):
    assert x.check_source_seen(local, "203.0.113.10", "minikube-m02:31380", "203.0.113.10").correct is True


def test_dropped_by_local_policy(local):
    right = x.check_dropped_by(local, "203.0.113.10", "minikube:31380", "KUBE-EXTERNAL-SERVICES")
    assert right.correct is True and "minikube" in right.message
    assert x.check_dropped_by(local, "203.0.113.10", "minikube:31380", "filter/KUBE-EXTERNAL-SERVICES").correct
    assert x.check_dropped_by(local, "203.0.113.10", "minikube:31380", "nat/KUBE-EXTERNAL-SERVICES").correct is False
    wrong = x.check_dropped_by(local, "203.0.113.10", "minikube:31380", "KUBE-SERVICES")
    assert wrong.correct is False and wrong.host == "minikube" and "has no local endpoints" in wrong.rule
    assert "lets it go on" in wrong.hint
    none = x.check_dropped_by(local, "203.0.113.10", "minikube:31380", "none")
    assert none.correct is False and "KUBE-EXTERNAL-SERVICES" in none.message


def test_dropped_by_when_delivered(local):
    assert x.check_dropped_by(local, "203.0.113.10", "minikube-m02:31380", "none").correct is True
    wrong = x.check_dropped_by(local, "203.0.113.10", "minikube-m02:31380", "KUBE-EXTERNAL-SERVICES")
    assert wrong.correct is False and "delivered" in wrong.message
    assert x.check_dropped_by(local, "203.0.113.10", "minikube-m02:31380", "rm -rf /").correct is None


def test_nodes(article, auth):
    assert x.check_nodes(article, auth, "default/webapp", "minikube -> minikube-m02").correct is True
    assert x.check_nodes(article, auth, "default/webapp", "minikube, minikube-m02").correct is True
    short = x.check_nodes(article, auth, "default/webapp", "minikube")
    assert short.correct is False and (short.hop, short.host) == (3, "minikube-m02")
    swapped = x.check_nodes(article, auth, "default/webapp", "minikube-m02 -> minikube")
    assert swapped.correct is False and (swapped.hop, swapped.host) == (2, "minikube")
    unknown = x.check_nodes(article, auth, "default/webapp", "node-1")
    assert unknown.correct is None and "not a node" in unknown.message and "minikube-m02" in unknown.message


def test_verdict(local):
    assert x.check_verdict(local, "203.0.113.10", "minikube:31380", "dropped").correct is True
    assert x.check_verdict(local, "203.0.113.10", "minikube-m02:31380", "delivered").correct is True
    wrong = x.check_verdict(local, "203.0.113.10", "minikube:31380", "REJECT")
    assert wrong.correct is False and wrong.host == "minikube" and "DROP" in wrong.message
    assert x.check_verdict(local, "203.0.113.10", "minikube:31380", "maybe").correct is None


def test_check_renders_escaped_html_and_text(article, auth):
    check = x.check_endpoints(article, auth, "default/webapp", "<script>alert(1)</script>")
    page = check._repr_html_()
    assert "<script>" not in page and "&lt;script&gt;" in page and 'data-correct="none"' in page
    wrong = x.check_endpoints(article, auth, "default/webapp", "10.244.120.102:80")
    page = wrong._repr_html_()
    assert 'data-correct="false"' in page and "hop 2" in page and "<details>" in page
    assert "parts ways at hop 2 (minikube)" in str(wrong)


def test_answers_are_computed_not_stored(tmp_path, article, auth):
    """Change the cluster and the right answer changes with it: scale webapp's Service to one endpoint."""
    import shutil
    for f in (DATA / "article").iterdir():
        shutil.copy(f, tmp_path / f.name)
    (tmp_path / "webapp-pods.yaml").unlink()
    (tmp_path / "webapp.yaml").write_text((tmp_path / "webapp.yaml").read_text().replace("replicas: 2", "replicas: 1"))
    c = load_cluster(tmp_path)
    (only,) = [p.ip for p in c.pods.values() if p.name.startswith("webapp-")]
    assert only not in {e.split(":")[0] for e in WEBAPP}
    assert x.check_endpoints(c, auth, "default/webapp", f"{only}:80 1").correct is True
    assert x.check_endpoints(c, auth, "default/webapp", ", ".join(f"{e} 1/2" for e in WEBAPP)).correct is False
    assert Fraction(1) == sum(o.probability for o in x._trace(c, auth, "default/webapp", None, "tcp").outcomes())


# --- part 2 (notebooks 07-11): DNAT hook, stopping host, reach, DNS, rule probability, conntrack state, options ---

@pytest.fixture(scope="module")
def policy():
    return load_cluster(DATA / "policy")


def _pod(cluster, prefix: str) -> str:
    return sorted(k for k in cluster.pods if k.startswith(prefix))[0]


def test_dnat_hook_prerouting_for_a_pod_output_for_the_node(article, auth):
    assert x.check_dnat(article, auth, "default/webapp", "PREROUTING", port=80).correct is True
    node = x.check_dnat(article, "minikube", "default/webapp", "prerouting", port=80)
    assert node.correct is False and node.host == "minikube" and "OUTPUT" in node.message and "DNAT" in node.rule
    assert x.check_dnat(article, "minikube", "default/webapp", "OUTPUT", port=80).correct is True
    assert x.check_dnat(article, auth, "default/webapp", "none", port=80).correct is False
    assert x.check_dnat(article, auth, "default/webapp", "sideways", port=80).correct is None
    assert x.check_dnat(article, auth, "default/webapp", "", port=80).correct is None


def test_no_dnat_to_a_headless_service():
    headless = load_cluster(DATA / "headless")
    db0 = "default/db-0"
    assert x.check_dnat(headless, db0, "webapp-hs", "none", port=80).correct is True
    wrong = x.check_dnat(headless, db0, "webapp-hs", "PREROUTING", port=80)
    assert wrong.correct is False and "no rule" in wrong.message.lower()


def test_stopped_at_the_node_that_must_forward(article, auth):
    off = {"ip_forward": {"minikube-m02": False}}
    right = x.check_stopped_at(article, auth, "default/webapp", "minikube-m02", port=80, **off)
    assert right.correct is True
    wrong = x.check_stopped_at(article, auth, "default/webapp", "minikube", port=80, **off)
    assert wrong.correct is False and "minikube-m02" in wrong.message
    assert x.check_stopped_at(article, auth, "default/webapp", "none", port=80).correct is True
    assert x.check_stopped_at(article, auth, "default/webapp", "minikube", port=80).correct is False


def test_reach_one_dash_and_the_article_policy(policy):
    backend, frontend, db = _pod(policy, "default/backend-"), _pod(policy, "default/frontend-"), _pod(policy, "default/db-")
    assert x.check_reach(policy, backend, db, "allowed", 5432).correct is True
    wrong = x.check_reach(policy, frontend, db, "allowed", 5432)
    assert wrong.correct is False and "allow-db-access" in wrong.message
    assert x.check_reach(policy, frontend, db, "maybe", 5432).correct is None
    with_or = load_cluster(DATA / "policy", DATA / "policy-lessons" / "ops.yaml", DATA / "policy-lessons" / "scrape-or.yaml")
    debug = _pod(with_or, "ops/debug-")
    assert x.check_reach(with_or, debug, _pod(with_or, "default/db-"), "allowed", 5432).correct is True
    with_and = load_cluster(DATA / "policy", DATA / "policy-lessons" / "ops.yaml", DATA / "policy-lessons" / "scrape-and.yaml")
    assert x.check_reach(with_and, _pod(with_and, "ops/debug-"), _pod(with_and, "default/db-"), "denied", 5432).correct


def test_dropped_by_a_chain_family_under_calico(policy):
    frontend, db = _pod(policy, "default/frontend-"), _pod(policy, "default/db-")
    assert x.check_dropped_by(policy, frontend, db, "cali-tw", port=5432, cni="calico").correct is True
    assert x.check_dropped_by(policy, frontend, db, "cali-fw", port=5432, cni="calico").correct is False
    assert x.check_dropped_by(policy, frontend, db, "cali", port=5432, cni="calico").correct is False  # not a family
    assert x.check_verdict(policy, frontend, db, "delivered", port=5432, cni="bridge").correct is True


def test_dns_count_and_type():
    headless = load_cluster(DATA / "headless")
    assert x.check_dns_count(headless, "webapp-hs", "2").correct is True
    assert x.check_dns_count(headless, "webapp", "1").correct is True
    assert x.check_dns_count(headless, "webapp-hs", "1").correct is False
    assert x.check_dns_count(headless, "webapp-hs", "two").correct is None
    assert x.check_dns_type(headless, "payments", "cname").correct is True
    wrong = x.check_dns_type(headless, "payments", "A")
    assert wrong.correct is False and "api.payments.example.com" in wrong.message
    assert ".." not in wrong.message and "ExternalName" in wrong.hint
    a_record = x.check_dns_type(headless, "webapp", "CNAME")
    assert a_record.correct is False and a_record.message.startswith("A ") and "ExternalName" not in a_record.hint
    assert x.check_dns_type(headless, "payments", "MX").correct is None


def test_rule_probability_before_and_after_a_third_endpoint(article):
    assert x.check_rule_probability(article, "minikube", "svc/webapp", "1/2").correct is True
    assert x.check_rule_probability(article, "minikube", "webapp", "50%").correct is True
    wrong = x.check_rule_probability(article, "minikube", "svc/webapp", "1/3")
    assert wrong.correct is False and "--probability 0.5" in wrong.rule
    scaled = load_cluster(DATA / "article", DATA / "kube-proxy" / "extra-webapp-pod.yaml")
    assert x.check_rule_probability(scaled, "minikube", "svc/webapp", "1/3").correct is True
    assert x.check_rule_probability(scaled, "minikube", "svc/webapp", "half").correct is None


def test_ctstate_over_a_whole_connection(article, auth):
    from kplab.walk import Connection, network

    packets = Connection(network(article), auth, "default/webapp", port=80).handshake()
    assert x.check_ctstate(packets, 0, "minikube", "NEW").correct is True
    assert x.check_ctstate(packets, 1, "minikube", "established").correct is True
    wrong = x.check_ctstate(packets, 1, "minikube", "NEW")
    assert wrong.correct is False and wrong.host == "minikube" and "ESTABLISHED" in wrong.message
    assert x.check_ctstate(packets, 1, "minikube", "open").correct is None
    assert x.check_ctstate(packets, 99, "minikube", "NEW").correct is None
