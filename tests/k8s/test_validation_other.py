"""Validation of the other kinds: workloads, pods, nodes, EndpointSlices, legacy Endpoints, duplicates."""
from __future__ import annotations

import pytest

from kplab.errors import KplabError
from kplab.k8s import load_cluster

CASES = [
    ("selector-mismatch", """
apiVersion: apps/v1
kind: Deployment
metadata: {name: webapp}
spec:
  selector: {matchLabels: {app: webapp}}
  template: {metadata: {labels: {app: web}}, spec: {containers: [{name: c}]}}
""", 'Deployment.apps "webapp" is invalid: spec.template.metadata.labels: Invalid value: '
     'map[string]string{"app":"web"}: `selector` does not match template `labels`'),
    ("selector-missing", """
apiVersion: apps/v1
kind: Deployment
metadata: {name: webapp}
spec:
  template: {metadata: {labels: {app: web}}, spec: {containers: [{name: c}]}}
""", 'Deployment.apps "webapp" is invalid: spec.selector: Required value'),
    ("no-containers", """
apiVersion: apps/v1
kind: StatefulSet
metadata: {name: db}
spec:
  selector: {matchLabels: {app: db}}
  template: {metadata: {labels: {app: db}}}
""", 'StatefulSet.apps "db" is invalid: spec.template.spec.containers: Required value'),
    ("node-cidr", """
apiVersion: v1
kind: Node
metadata: {name: n1}
spec: {podCIDR: 10.244.0.0/33}
""", 'Node "n1" is invalid: spec.podCIDRs[0]: Invalid value: "10.244.0.0/33": must be a valid CIDR value'),
    ("node-ip", """
apiVersion: v1
kind: Node
metadata: {name: n1}
status: {addresses: [{type: InternalIP, address: 10.0.0.300}]}
""", 'Node "n1" is invalid: status.addresses[0].address: Invalid value: "10.0.0.300": must be a valid IP address'),
    ("slice-address-type", """
apiVersion: discovery.k8s.io/v1
kind: EndpointSlice
metadata: {name: ext-1, labels: {kubernetes.io/service-name: ext}}
endpoints: [{addresses: [192.0.2.1]}]
""", 'EndpointSlice.discovery.k8s.io "ext-1" is invalid: addressType: Required value'),
    ("slice-no-address", """
apiVersion: discovery.k8s.io/v1
kind: EndpointSlice
metadata: {name: ext-1, labels: {kubernetes.io/service-name: ext}}
addressType: IPv4
endpoints: [{conditions: {ready: true}}]
""", 'EndpointSlice.discovery.k8s.io "ext-1" is invalid: endpoints[0].addresses: Required value: must contain at '
     "least 1 address"),
    ("slice-bad-address", """
apiVersion: discovery.k8s.io/v1
kind: EndpointSlice
metadata: {name: ext-1, labels: {kubernetes.io/service-name: ext}}
addressType: IPv4
endpoints: [{addresses: [db.example.com]}]
""", 'endpoints[0].addresses[0]: Invalid value: "db.example.com": must be a valid IPv4 address'),
    ("endpoints-empty-subset", """
apiVersion: v1
kind: Endpoints
metadata: {name: ext}
subsets:
- ports: [{port: 80}]
""", 'Endpoints "ext" is invalid: subsets[0]: Required value: must specify `addresses` or `notReadyAddresses`'),
    ("pod-name", """
apiVersion: v1
kind: Pod
metadata: {name: My_Pod}
spec: {containers: [{name: c}]}
""", 'Pod "My_Pod" is invalid: metadata.name: Invalid value: "My_Pod": a lowercase RFC 1123 subdomain'),
    ("pod-duplicate", """
apiVersion: v1
kind: Pod
metadata: {name: a}
spec: {containers: [{name: c}]}
---
apiVersion: v1
kind: Pod
metadata: {name: a}
spec: {containers: [{name: c}]}
""", 'pods "a" already exists'),
    ("node-duplicate", """
apiVersion: v1
kind: Node
metadata: {name: n}
---
apiVersion: v1
kind: Node
metadata: {name: n}
""", 'nodes "n" already exists'),
    ("deployment-duplicate", """
apiVersion: apps/v1
kind: Deployment
metadata: {name: w}
spec: {selector: {matchLabels: {a: b}}, template: {metadata: {labels: {a: b}}, spec: {containers: [{name: c}]}}}
---
apiVersion: apps/v1
kind: Deployment
metadata: {name: w}
spec: {selector: {matchLabels: {a: b}}, template: {metadata: {labels: {a: b}}, spec: {containers: [{name: c}]}}}
""", 'deployments.apps "w" already exists'),
    ("no-name", "apiVersion: v1\nkind: Service\nmetadata: {}\nspec: {ports: [{port: 1}]}\n",
     "metadata.name: Required value: name or generateName is required"),
    ("port-not-a-number", "apiVersion: v1\nkind: Service\nmetadata: {name: s}\nspec: {ports: [{port: eighty}]}\n",
     'Service "s": spec.ports[0].port: expected an integer, got "eighty"'),
]


@pytest.mark.parametrize("text,message", [(t, m) for _, t, m in CASES], ids=[c[0] for c in CASES])
def test_invalid_object_message(write, text, message):
    path = write("bad.yaml", text)
    with pytest.raises(KplabError) as e:
        load_cluster(path)
    assert message in str(e.value)
    assert str(e.value).startswith(f"{path}:")
