"""kplab.lab: the real-kernel backend — the same cluster in network namespaces, the same rules, real packets.

    from kplab.lab import Lab
    with Lab(cluster) as lab:
        lab.connect("default/auth-abc", "10.96.0.20", 80)

Linux and root only; `kplab.lab.check()` lists what is missing.
"""
from kplab.lab.connection import Observation
from kplab.lab.lab import Lab, check
from kplab.lab.namespace import LabError

__all__ = ["Lab", "LabError", "Observation", "check"]
