"""Load time of a large manifest set: 50 nodes, 200 Deployments x 5 replicas, 400 Services (half NodePort)."""
from __future__ import annotations

import tempfile
import time
from pathlib import Path

from kplab.k8s import load_cluster


def manifests(nodes: int = 50, deployments: int = 200, replicas: int = 5) -> str:
    docs = []
    for i in range(nodes):
        docs.append(f"apiVersion: v1\nkind: Node\nmetadata: {{name: node-{i}}}\n")
    for i in range(deployments):
        docs.append(f"""apiVersion: apps/v1
kind: Deployment
metadata: {{name: app-{i}}}
spec:
  replicas: {replicas}
  selector: {{matchLabels: {{app: app-{i}}}}}
  template:
    metadata: {{labels: {{app: app-{i}}}}}
    spec: {{containers: [{{name: c, image: nginx, ports: [{{containerPort: 8080, name: http}}]}}]}}
""")
        for kind in ("ClusterIP", "NodePort"):
            docs.append(f"apiVersion: v1\nkind: Service\nmetadata: {{name: app-{i}-{kind.lower()}}}\n"
                        f"spec: {{type: {kind}, selector: {{app: app-{i}}}, ports: [{{port: 80, targetPort: http}}]}}\n")
    return "---\n".join(docs)


def main() -> None:
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "big.yaml"
        path.write_text(manifests())
        start = time.perf_counter()
        cluster = load_cluster(path)
        took = time.perf_counter() - start
    print(f"load_cluster: {len(cluster.nodes)} nodes, {len(cluster.pods)} pods, {len(cluster.services)} services, "
          f"{len(cluster.endpointslices)} slices in {took:.2f} s")


if __name__ == "__main__":
    main()
