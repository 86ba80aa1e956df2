"""Every example in ../shared/badinput/ (read in place) and two more of its kind: a non-zero exit with the expected
message naming the file and line, object or field — never a traceback, a hang or a silent wrong answer.
Rules-file limits were checked against the real iptables-restore 1.8.9 in a throwaway kpl- network namespace."""
from __future__ import annotations

import os
import shutil
import stat
import subprocess
import sys
import threading
from pathlib import Path

import pytest

from kplab.cli import main

ROOT = Path(__file__).resolve().parents[1]
BAD = ROOT / ".." / "shared" / "badinput"


@pytest.fixture(scope="module")
def bad() -> Path:
    if not BAD.is_dir():
        if os.environ.get("CI") == "true":
            pytest.fail(f"bad-input examples missing at {BAD}")
        pytest.skip(f"bad-input examples not found at {BAD}")
    return BAD


def run(capsys, *argv: str) -> tuple[int, str, str]:
    try:
        code = main([str(a) for a in argv])
    except SystemExit as e:  # argparse refuses an argument
        code = e.code
    out, err = capsys.readouterr()
    assert "Traceback" not in err
    return code, out, err


def refused(capsys, argv, *expected: str) -> str:
    code, _, err = run(capsys, *argv)
    assert code != 0, f"accepted: {argv}"
    for text in expected:
        assert text in err, err
    return err


def manifest(tmp_path: Path, text: str, name: str = "m.yaml") -> Path:
    path = tmp_path / name
    path.write_text(text)
    return path


# --- manifests: shapes (schema) ------------------------------------------------------------------------------

@pytest.mark.parametrize("value", ["5", "[a]", '"x"', "true"])
def test_01_metadata_not_a_mapping(bad, tmp_path, capsys, value):
    if value == "5":
        path = bad / "01-traceback-metadata-not-a-mapping.yaml"
    else:
        path = manifest(tmp_path, f"apiVersion: v1\nkind: Pod\nmetadata: {value}\n")
    err = refused(capsys, ["get", "pods", path], "Pod: metadata: expected a mapping")
    assert f"{path}:" in err


WRONG_TYPES = [
    ("svc.ports-int", "apiVersion: v1\nkind: Service\nmetadata: {name: web}\nspec: {ports: 80}\n",
     'm.yaml:4: Service "web": spec.ports: expected a list, got 80'),
    ("pod.containers-string", "apiVersion: v1\nkind: Pod\nmetadata: {name: p}\nspec: {containers: c}\n",
     'm.yaml:4: Pod "p": spec.containers: expected a list, got "c"'),
    ("kubeadm.extraArgs-string", "apiVersion: kubeadm.k8s.io/v1beta3\nkind: ClusterConfiguration\n"
     "apiServer: {extraArgs: x}\n", "m.yaml:3: ClusterConfiguration: apiServer.extraArgs: expected a mapping"),
    ("deploy.template.spec-list", "apiVersion: apps/v1\nkind: Deployment\nmetadata: {name: web}\nspec:\n"
     "  selector: {matchLabels: {app: web}}\n  template: {metadata: {labels: {app: web}}, spec: [x]}\n",
     'm.yaml:6: Deployment "web": spec.template.spec: expected a mapping, got ["x"]'),
]


@pytest.mark.parametrize("text,message", [c[1:] for c in WRONG_TYPES], ids=[c[0] for c in WRONG_TYPES])
def test_03_wrong_type_fields(bad, tmp_path, capsys, text, message):
    assert (bad / "03-traceback-wrong-type-fields.sh").is_file()
    refused(capsys, ["get", "pods", manifest(tmp_path, text)], message)


def test_30_apiversion_checked(bad, tmp_path, capsys):
    refused(capsys, ["get", "svc", bad / "30-silent-apiversion-not-checked.yaml"],
            '30-silent-apiversion-not-checked.yaml:5: resource mapping not found: no matches for kind "Service" in '
            'version "apps/v1"')
    refused(capsys, ["get", "svc", manifest(tmp_path, "kind: Service\nmetadata: {name: a}\n")], "apiVersion not set")
    refused(capsys, ["get", "svc", manifest(tmp_path, "apiVersion: v2\nkind: Service\nmetadata: {name: a}\n")],
            'no matches for kind "Service" in version "v2"')
    refused(capsys, ["get", "svc", manifest(tmp_path, "apiVersion: 1\nkind: Service\nmetadata: {name: a}\n")],
            "apiVersion: expected a string, got 1")


def test_custom_resources_are_skipped_and_said(tmp_path, capsys):
    path = manifest(tmp_path, "apiVersion: gateway.networking.k8s.io/v1\nkind: HTTPRoute\nmetadata: {name: r}\n")
    code, _, err = run(capsys, "get", "svc", path)
    assert code == 0 and "skipped objects of kinds kplab does not model: HTTPRoute (1)" in err


@pytest.mark.parametrize("text,message", [
    (None, 'Service "web": spec.selector.canary: expected a string, got true'),
    ("apiVersion: v1\nkind: Pod\nmetadata: {name: p, labels: {tier: 5}}\nspec: {containers: [{name: c}]}\n",
     'Pod "p": metadata.labels.tier: expected a string, got 5'),
    ("apiVersion: apps/v1\nkind: Deployment\nmetadata: {name: w}\nspec:\n  selector: {matchLabels: {app: [w]}}\n"
     "  template: {metadata: {labels: {app: w}}, spec: {containers: [{name: c}]}}\n",
     'Deployment "w": spec.selector.matchLabels.app: expected a string, got ["w"]'),
])
def test_32_selector_and_label_values_are_strings(bad, tmp_path, capsys, text, message):
    path = bad / "32-silent-service-selector-not-validated.yaml" if text is None else manifest(tmp_path, text)
    refused(capsys, ["get", "endpointslices", path], message)


@pytest.mark.parametrize("text,message", [
    (None, 'Service "web": spec.ports[0].port: expected an integer, got "80"'),
    ("apiVersion: apps/v1\nkind: Deployment\nmetadata: {name: w}\nspec:\n  replicas: '3'\n"
     "  selector: {matchLabels: {app: w}}\n  template: {metadata: {labels: {app: w}}, spec: {containers: [{name: c}]}}\n",
     'm.yaml:5: Deployment "w": spec.replicas: expected an integer, got "3"'),
    ("apiVersion: discovery.k8s.io/v1\nkind: EndpointSlice\nmetadata: {name: e}\naddressType: IPv4\n"
     "endpoints: [{addresses: [10.244.0.9], conditions: {ready: 'yes'}}]\n",
     'EndpointSlice "e": endpoints[0].conditions.ready: expected true or false, got "yes"'),
    ("apiVersion: v1\nkind: Pod\nmetadata: {name: p}\nspec: {containers: [{name: c}]}\nstatus: {podIP: 5}\n",
     'm.yaml:5: Pod "p": status.podIP: expected a string, got 5'),
    ("apiVersion: v1\nkind: Node\nmetadata: {name: n}\nspec: {podCIDR: 10.0.0.1}\n",
     'Node "n" is invalid: spec.podCIDRs[0]: Invalid value: "10.0.0.1"'),
])
def test_34_no_type_coercion(bad, tmp_path, capsys, text, message):
    path = bad / "34-silent-type-coercion.yaml" if text is None else manifest(tmp_path, text)
    refused(capsys, ["get", "pods", path], message)


@pytest.mark.parametrize("text,message", [
    (None, '39-silent-unknown-fields.yaml:24: Service "web": strict decoding error: unknown field '
           '"spec.ports[0].targetport"'),
    ("apiVersion: v1\nkind: Service\nmetadata: {name: s}\nspec:\n  selectr: {app: a}\n  ports: [{port: 80}]\n",
     'm.yaml:5: Service "s": strict decoding error: unknown field "spec.selectr"'),
    ("apiVersion: apps/v1\nkind: Deployment\nmetadata: {name: w}\nspec:\n  replica: 3\n"
     "  selector: {matchLabels: {app: w}}\n  template: {metadata: {labels: {app: w}}, spec: {containers: [{name: c}]}}\n",
     'm.yaml:5: Deployment "w": strict decoding error: unknown field "spec.replica"'),
])
def test_39_unknown_fields_refused(bad, tmp_path, capsys, text, message):
    path = bad / "39-silent-unknown-fields.yaml" if text is None else manifest(tmp_path, text)
    refused(capsys, ["rules", path, "--node", "minikube"], message)


# --- manifests: limits ---------------------------------------------------------------------------------------

BOMB = "\n".join([f"{c}: &{c} [{', '.join([f'*{p}'] * 9)}]" for p, c in zip("abcdefgh", "bcdefghi")])


@pytest.mark.parametrize("text", [
    None,
    "apiVersion: v1\nkind: Pod\nmetadata:\n  name: p\n  annotations:\n    a: &a [lol, lol, lol, lol, lol, lol, lol, "
    "lol, lol]\n" + "\n".join("    " + line for line in BOMB.splitlines()) + "\n  labels: {x: *i}\n"
    "spec: {containers: [{name: c}]}\n",
    "apiVersion: v1\nkind: Service\nmetadata: {name: s}\nspec: &s {ports: [{port: 80}], x: *s}\n",
])
def test_20_yaml_alias_bomb_refused_fast(bad, tmp_path, capsys, text):
    path = bad / "20-oom-yaml-alias-bomb.yaml" if text is None else manifest(tmp_path, text)
    err = refused(capsys, ["get", "svc", path])
    assert "excessive aliasing" in err or "refers to the node that holds it" in err


@pytest.mark.parametrize("text,message", [
    (None, 'Deployment.apps "web" is invalid: spec.replicas: Invalid value: 1000000000: kplab models at most 150,000'),
    ("apiVersion: apps/v1\nkind: Deployment\nmetadata: {name: w}\nspec:\n  replicas: 2147483648\n"
     "  selector: {matchLabels: {app: w}}\n  template: {metadata: {labels: {app: w}}, spec: {containers: [{name: c}]}}\n",
     'm.yaml:5: Deployment "w": spec.replicas: 2147483648 does not fit in an int32'),
    ("apiVersion: apps/v1\nkind: StatefulSet\nmetadata: {name: db}\nspec:\n  replicas: 200000\n  serviceName: db\n"
     "  selector: {matchLabels: {app: db}}\n  template: {metadata: {labels: {app: db}}, spec: {containers: [{name: c}]}}\n",
     'StatefulSet.apps "db" is invalid: spec.replicas: Invalid value: 200000'),
])
def test_21_replicas_limited(bad, tmp_path, capsys, text, message):
    path = bad / "21-hang-deployment-replicas.yaml" if text is None else manifest(tmp_path, text)
    refused(capsys, ["get", "pods", path], message)


# --- files that are not regular ------------------------------------------------------------------------------

def test_62_dev_null_and_pipes_read_like_files(bad, tmp_path, capsys):
    assert (bad / "62-vague-manifest-not-a-regular-file.sh").is_file()
    assert run(capsys, "get", "pods", "/dev/null")[0] == 0
    text = (ROOT / "data" / "policy" / "apps.yaml").read_bytes()
    fifo = tmp_path / "f.yaml"
    os.mkfifo(fifo)
    writer = threading.Thread(target=lambda: fifo.write_bytes(text))
    writer.start()
    code, out, _ = run(capsys, "get", "pods", fifo)
    writer.join(5)
    assert code == 0 and "backend" in out
    read, write = os.pipe()
    os.write(write, text)
    os.close(write)
    try:
        code, out, _ = run(capsys, "get", "pods", f"/dev/fd/{read}")
    finally:
        os.close(read)
    assert code == 0 and "backend" in out


def test_62_endless_and_binary_sources_refused(capsys):
    refused(capsys, ["get", "pods", "/dev/zero"], "/dev/zero:1: not text (a NUL byte): not a manifest")
    refused(capsys, ["trace-rules", "/dev/zero", "--src", "1.1.1.1", "--dst", "2.2.2.2", "--dport", "80"],
            "/dev/zero:1: not text (a NUL byte): not a rules file")


@pytest.mark.skipif(shutil.which("setpriv") is None, reason="setpriv (util-linux) not installed")
def test_62_unlistable_folder(tmp_path):
    folder = tmp_path / "locked"
    folder.mkdir()
    (folder / "a.yaml").write_text("apiVersion: v1\nkind: Namespace\nmetadata: {name: a}\n")
    folder.chmod(0)
    try:  # root reads any folder: drop the capability that lets it, as a normal user would be
        done = subprocess.run(["setpriv", "--bounding-set=-dac_override,-dac_read_search", "--inh-caps=-all",
                               sys.executable, "-m", "kplab.cli", "get", "pods", str(folder)],
                              capture_output=True, text=True, cwd=ROOT, timeout=120,
                              env={**os.environ, "PYTHONPATH": str(ROOT)})
    finally:
        folder.chmod(0o755)
    assert done.returncode == 1 and f'cannot list folder "{folder}"' in done.stderr, done.stderr


# --- rules files: as iptables-restore reads them -------------------------------------------------------------

def test_08_chains_ten_thousand_deep(bad, tmp_path, capsys):
    assert (bad / "08-traceback-deep-chain-recursion.sh").is_file()
    n = 10000
    decl = "".join(f":D{i} - [0:0]\n" for i in range(n))
    rules = "".join(f"-A D{i} -j D{i + 1}\n" for i in range(n - 1))
    deep = tmp_path / "deep.rules"
    deep.write_text(f"*nat\n:PREROUTING ACCEPT [0:0]\n{decl}-A PREROUTING -j D0\n{rules}COMMIT\n")
    code, out, _ = run(capsys, "trace-rules", deep, "--src", "1.1.1.1", "--dst", "2.2.2.2", "--dport", "80")
    assert code == 0 and "verdict ACCEPT" in out  # iptables-legacy-restore takes it (nft limits jump depth)
    loop = tmp_path / "loop.rules"
    loop.write_text(f"*nat\n:PREROUTING ACCEPT [0:0]\n{decl}-A PREROUTING -j D0\n{rules}-A D{n - 1} -j D0\nCOMMIT\n")
    refused(capsys, ["trace-rules", loop, "--src", "1.1.1.1", "--dst", "2.2.2.2", "--dport", "80"],
            f"loop.rules:{n + 3 + n}: jump loop in table nat: D0 -> D1")


def test_08_self_containing_ipsets(tmp_path, capsys):
    rules = manifest(tmp_path, "*filter\n:INPUT ACCEPT [0:0]\n-A INPUT -m set --match-set L src -j DROP\nCOMMIT\n",
                     "r.rules")
    for text, message in (("create L list:set size 8\nadd L L\n", "s.ipset:2: add L to L: Sets with list:set type "
                           "cannot be added to the set."),
                          ("create L list:set size 8\ncreate M list:set size 8\nadd L M\n", "s.ipset:3: add M to L"),
                          ("create L list:set size 8\nadd L nosuch\n", "Set to be added/deleted/tested as element "
                           "does not exist")):
        ipset = manifest(tmp_path, text, "s.ipset")
        refused(capsys, ["trace-rules", rules, "--ipset", ipset, "--src", "1.1.1.1", "--dst", "2.2.2.2",
                         "--dport", "80"], message)


NAT = "*nat\n:PREROUTING ACCEPT [0:0]\n:POSTROUTING ACCEPT [0:0]\n:X - [0:0]\n{}\nCOMMIT\n"


@pytest.mark.parametrize("rule,message", [
    (None, "45-silent-nat-port-ranges.rules:10: DNAT: Port `99999' not valid"),
    ("-A X -p tcp -j DNAT --to-destination 10.0.0.1:80-70", "r.rules:5: DNAT: Port range `70' funky"),
    ("-A X -j DNAT --to-destination 10.0.0.1:80", "r.rules:5: DNAT: Need TCP, UDP, SCTP or DCCP with port"),
    ("-A X -p tcp -j DNAT --to-destination 10.0.0.1:", "r.rules:5: DNAT: Port `' not valid"),
    ("-A POSTROUTING -p tcp -j MASQUERADE --to-ports abc", "r.rules:5: MASQUERADE: Port `abc' not valid"),
    ("-A X -p tcp -j REJECT", "r.rules:5: REJECT: only valid in the filter table"),
    ("-A X -i abcdefghijklmnop -j ACCEPT", "interface name `abcdefghijklmnop' must be shorter than IFNAMSIZ"),
    ("-A X -p foo -j ACCEPT", 'unknown protocol "foo" specified'),
    ("-A X -s 1.1.1.1 -s 2.2.2.2 -j ACCEPT", "multiple -s flags not allowed"),
    ("-A X -p tcp -p udp -j ACCEPT", "multiple -p flags not allowed"),
    ("-A X -s 10.0.0.1 -j ACCEPT\n-A X -d fd00::1 -j ACCEPT", "r.rules:6: an IPv6 address in a rule set of IPv4"),
])
def test_45_refused_where_iptables_restore_refuses(bad, tmp_path, capsys, rule, message):
    path = bad / "45-silent-nat-port-ranges.rules" if rule is None else manifest(tmp_path, NAT.format(rule), "r.rules")
    refused(capsys, ["trace-rules", path, "--src", "10.0.0.5", "--dst", "10.0.0.1", "--dport", "80"], message)


@pytest.mark.parametrize("rule", [
    "-A X -p tcp -j DNAT --to-destination 10.0.0.1:0",  # iptables 1.8.9 takes NAT port 0
    "-A POSTROUTING -p tcp -j MASQUERADE --to-ports 0",
    "-A X -p icmp -j DNAT --to-destination 10.0.0.1:80",  # the ICMP id stands for the port
    "-A X -i abcdefghijklmno -j ACCEPT",  # 15 characters: the longest name
    "-A X -p 132 -j ACCEPT",
])
def test_45_accepted_where_iptables_restore_accepts(tmp_path, capsys, rule):
    path = manifest(tmp_path, NAT.format(rule), "r.rules")
    assert run(capsys, "trace-rules", path, "--src", "10.0.0.5", "--dst", "10.0.0.1", "--dport", "80")[0] == 0


def test_50_table_given_twice_keeps_the_last(bad, tmp_path, capsys):
    refused(capsys, ["trace-rules", bad / "50-silent-table-given-twice.rules", "--src", "10.0.0.5", "--dst",
                     "10.0.0.1", "--dport", "80"], "50-silent-table-given-twice.rules:14: jump to chain OLD which "
                                                   "does not exist in table filter")
    two = manifest(tmp_path, "*filter\n:FORWARD ACCEPT [0:0]\n:OLD - [0:0]\n-A OLD -j DROP\n-A FORWARD -j OLD\nCOMMIT\n"
                   "*filter\n:FORWARD ACCEPT [0:0]\n-A FORWARD -s 1.2.3.4 -j ACCEPT\nCOMMIT\n", "two.rules")
    code, out, _ = run(capsys, "trace-rules", two, "--src", "10.0.0.5", "--dst", "10.0.0.1", "--dport", "80",
                       "--json")
    assert code == 0 and '"verdict": "ACCEPT"' in out  # the node holds only the second copy
    three = manifest(tmp_path, "*nat\n:OUTPUT ACCEPT [0:0]\n-A OUTPUT -j DROP\nCOMMIT\n" * 2
                     + "*nat\n:OUTPUT ACCEPT [0:0]\nCOMMIT\n", "three.rules")
    code, out, _ = run(capsys, "trace-rules", three, "--src", "10.0.0.5", "--dst", "10.0.0.1", "--dport", "80",
                       "--local-ip", "10.0.0.5", "--json")
    assert code == 0 and '"verdict": "ACCEPT"' in out


# --- arguments -----------------------------------------------------------------------------------------------

@pytest.mark.parametrize("argv,message", [
    (["trace", "data/policy", "--from", "minikube", "--to", "default/backend", "--port", "65536"],
     "argument --port: 65536 is not a port (1-65535)"),
    (["trace", "data/policy", "--from", "minikube", "--to", "default/backend", "--port", "0"],
     "argument --port: 0 is not a port (1-65535)"),
    (["trace", "data/policy", "--from", "minikube", "--to", "1.2.3.4:99999"], "'99999' is not a port (1-65535)"),
    (["trace", "data/policy", "--from", "minikube", "--to", "minikube:99999"], "'99999' is not a port (1-65535)"),
    (["reach", "data/policy", "--port", "-1"], "argument --port: -1 is not a port (1-65535)"),
    (["trace-rules", "data/policy/apps.yaml", "--src", "1.1.1.1", "--dst", "2.2.2.2", "--dport", "80", "--sport",
      "70000"], "argument --sport: 70000 is not a port (1-65535)"),
    (["trace", "data/policy", "--from", "minikube", "--to", "999.1.1.1", "--port", "80"],
     "--to 999.1.1.1: '999.1.1.1' is not a valid IP address"),
    (["trace", "data/policy", "--from", "minikube", "--to", "10.96.0.1:-5", "--port", "80"],
     "--to 10.96.0.1:-5: '-5' is not a port"),
    (["trace", "data/policy", "--from", "minikube", "--to", "10.96.1", "--port", "80"],
     "'10.96.1' is not a valid IP address"),
    (["trace", "data/policy", "--from", "", "--to", "default/backend"], "argument --from: empty"),
    (["trace-rules", "/dev/null", "--src", "fd00::1", "--dst", "10.0.0.1", "--dport", "80"],
     "one packet has one address family"),
])
def test_41_42_arguments_checked_before_use(bad, capsys, monkeypatch, argv, message):
    assert (bad / "41-silent-port-arguments.sh").is_file() and (bad / "42-silent-bad-ip-taken-as-dns-name.sh").is_file()
    monkeypatch.chdir(ROOT)
    refused(capsys, argv, message)


# --- --html --------------------------------------------------------------------------------------------------

TRACE = ["trace", "data/policy", "--from", "minikube", "--to", "default/backend"]


def test_06_html_to_an_unwritable_place(bad, tmp_path, capsys, monkeypatch):
    assert (bad / "06-traceback-html-unwritable-folder.sh").is_file()
    monkeypatch.chdir(ROOT)
    refused(capsys, [*TRACE, "--html", "/proc/kplab.html"], "--html /proc/kplab.html: cannot write")
    refused(capsys, [*TRACE, "--html", tmp_path / "nofolder" / "t.html"], "does not exist")
    (tmp_path / "file").write_text("x")
    refused(capsys, [*TRACE, "--html", tmp_path / "file" / "t.html"], "--html")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["file"]  # nothing half-written left


def test_70_html_never_replaces_special_files(bad, tmp_path, capsys, monkeypatch):
    assert (bad / "70-html-replaces-special-files.sh").is_file()
    monkeypatch.chdir(ROOT)
    fifo = tmp_path / "out.fifo"
    os.mkfifo(fifo)
    refused(capsys, [*TRACE, "--html", fifo], "not a regular file")
    assert stat.S_ISFIFO(os.lstat(fifo).st_mode)
    refused(capsys, [*TRACE, "--html", tmp_path], "not a regular file")
    page = tmp_path / "page.html"
    page.write_text("old")
    link = tmp_path / "link.html"
    link.symlink_to(page)
    assert run(capsys, *TRACE, "--html", link)[0] == 0
    assert link.is_symlink() and "<html" in page.read_text().lower()  # followed, as a shell's > would
    fresh = tmp_path / "fresh.html"
    umask = os.umask(0o022)
    try:
        assert run(capsys, *TRACE, "--html", fresh)[0] == 0
    finally:
        os.umask(umask)
    assert stat.S_IMODE(fresh.stat().st_mode) == 0o644


# --- every command says what it skipped ----------------------------------------------------------------------

@pytest.mark.parametrize("argv", [["get", "pods"], ["rules", "--node", "minikube"], ["reach"],
                                  ["trace", "--from", "minikube", "--to", "default/backend"]])
def test_every_command_reports_skipped_kinds(tmp_path, capsys, monkeypatch, argv):
    monkeypatch.chdir(ROOT)
    extra = manifest(tmp_path, "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: c}\ndata: {a: b}\n", "cm.yaml")
    files = ["data/policy", str(extra)]
    full = [argv[0], *files, *argv[1:]] if argv[0] != "get" else [*argv, *files]
    code, _, err = run(capsys, *full)
    assert code == 0 and "Warning: skipped objects of kinds kplab does not model: ConfigMap (1)" in err
