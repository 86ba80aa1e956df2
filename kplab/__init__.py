"""kplab: how a packet travels through Kubernetes.

manifests -> ``kplab.k8s`` cluster -> ``kplab.kubeproxy`` + ``kplab.cni`` rules -> ``kplab.walk`` walk -> Trace -> ``kplab.views``.
"""

__version__ = "0.1.0"
