"""kube-proxy's chain names: a fixed prefix plus 16 base32 characters of a SHA-256 digest.

kube-proxy hashes because iptables chain names are limited to 28 characters; the hash is stable, so the same
Service port gets the same chain on every node and across restarts (and the article's names can be recomputed).
"""
from __future__ import annotations

import base64
import functools
import hashlib

# Prefixes of the per-service chains kube-proxy owns and garbage-collects (isServiceChainName).
SERVICE_CHAIN_PREFIXES = ("KUBE-SVC-", "KUBE-SVL-", "KUBE-EXT-", "KUBE-FW-", "KUBE-SEP-")
# v1.19 owned KUBE-XLB-* instead of KUBE-SVL-* / KUBE-EXT-*.
SERVICE_CHAIN_PREFIXES_V119 = ("KUBE-SVC-", "KUBE-SEP-", "KUBE-FW-", "KUBE-XLB-")


@functools.lru_cache(maxsize=1 << 16)  # pure; a rules build names each Service port's chains several times
def chain_hash(text: str) -> str:
    """First 16 characters of base32(sha256(text)), as kube-proxy's portProtoHash / servicePortEndpointChainName."""
    digest = hashlib.sha256(text.encode()).digest()
    return base64.b32encode(digest).decode()[:16]


def service_port_name(namespace: str, name: str, port_name: str = "") -> str:
    """ServicePortName.String(): "ns/name", plus ":port" only when the port is named."""
    base = f"{namespace}/{name}"
    return f"{base}:{port_name}" if port_name else base


def svc_chain(svc_port_name: str, protocol: str) -> str:
    return "KUBE-SVC-" + chain_hash(svc_port_name + protocol.lower())


def svl_chain(svc_port_name: str, protocol: str) -> str:
    return "KUBE-SVL-" + chain_hash(svc_port_name + protocol.lower())


def ext_chain(svc_port_name: str, protocol: str) -> str:
    return "KUBE-EXT-" + chain_hash(svc_port_name + protocol.lower())


def fw_chain(svc_port_name: str, protocol: str) -> str:
    return "KUBE-FW-" + chain_hash(svc_port_name + protocol.lower())


def xlb_chain(svc_port_name: str, protocol: str) -> str:
    """v1.19's chain for externalTrafficPolicy: Local (serviceLBChainName)."""
    return "KUBE-XLB-" + chain_hash(svc_port_name + protocol.lower())


def sep_chain(svc_port_name: str, protocol: str, endpoint: str) -> str:
    """endpoint is "ip:port" (JoinHostPort form)."""
    return "KUBE-SEP-" + chain_hash(svc_port_name + protocol.lower() + endpoint)


def is_service_chain(chain: str, prefixes: tuple[str, ...] = SERVICE_CHAIN_PREFIXES) -> bool:
    return chain.startswith(prefixes)
