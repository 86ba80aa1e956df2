"""Names as Calico's Felix makes them: host-side veths, endpoint/policy/profile chains, IP sets.

Algorithms from projectcalico/calico (see ../shared/reference/calico.md §6-§7): chain names are cut to 28
characters with a SHA-256 suffix (`GetLengthLimitedID`), veths are `cali` + 11 hex digits of SHA-1 of
`<namespace>.<pod>`, IP set IDs are `s:`/`n:` + base64url(SHA-224(...)).
"""
from __future__ import annotations

import base64
import hashlib
import re

MAX_CHAIN_NAME = 28
MAX_IPSET_NAME = 31


def _b64(digest: bytes) -> str:
    return base64.urlsafe_b64encode(digest).decode().rstrip("=")


def length_limited_id(prefix: str, suffix: str, max_len: int = MAX_CHAIN_NAME) -> str:
    """libcalico-go hash.GetLengthLimitedID: keep short names, hash long ones (and ones that could collide)."""
    suffix = suffix or "_"
    name = prefix + suffix
    if len(name) < max_len or (len(name) == max_len and not suffix.startswith("_")):
        return name
    return prefix + "_" + _b64(hashlib.sha256(suffix.encode()).digest())[: max_len - 1 - len(prefix)]


def interface_name(pod) -> str:
    """The host side of the pod's veth (VethNameForWorkload), e.g. x/a -> cali456b416f2bf."""
    return "cali" + hashlib.sha1(f"{pod.namespace}.{pod.name}".encode()).hexdigest()[:11]


def policy_id(namespace: str, name: str) -> str:
    """Felix >= v3.32 PolicyID.ID() for a Kubernetes NetworkPolicy: knp/<namespace>/<name>."""
    return f"knp/{namespace}/{name}"


def policy_chain(direction: str, namespace: str, name: str) -> str:
    """cali-pi-… renders a policy's inbound (ingress) rules, cali-po-… its outbound (egress) rules."""
    return length_limited_id("cali-pi-" if direction == "Ingress" else "cali-po-", policy_id(namespace, name))


def profile_chain(direction: str, profile: str) -> str:
    """cali-pri-/cali-pro- + profile name: `kns.<ns>` for a namespace, `ksa.<ns>.<sa>` for a ServiceAccount."""
    return length_limited_id("cali-pri-" if direction == "Ingress" else "cali-pro-", profile)


def endpoint_chain(direction: str, iface: str) -> str:
    """cali-tw- (to workload: the pod's ingress) / cali-fw- (from workload: its egress) + the veth name."""
    return length_limited_id("cali-tw-" if direction == "Ingress" else "cali-fw-", iface)


def unique_id(prefix: str, content: str) -> str:
    return f"{prefix}:" + _b64(hashlib.sha224(f"{prefix}:{content}".encode()).digest())


def selector_set_name(selector: str) -> str:
    """Main IPv4 set for a label selector: cali40 + s:<hash>, cut to 31 characters."""
    return ("cali40" + unique_id("s", selector))[:MAX_IPSET_NAME]


def named_port_set_name(selector: str, protocol: str, port_name: str) -> str:
    """hash:ip,port set of the selected endpoints' ports called `port_name`: cali40 + n:<hash>."""
    return ("cali40" + unique_id("n", f"{unique_id('s', selector)},{protocol.lower()},{port_name}"))[:MAX_IPSET_NAME]


# Which direction of policy a Calico chain enforces, by its prefix (felix/rules/names.go).
_CHAIN_DIRECTION = {"cali-pi-": "ingress", "cali-tw-": "ingress", "cali-pri-": "ingress",
                    "cali-po-": "egress", "cali-fw-": "egress", "cali-pro-": "egress"}
_LABEL = re.compile(r'--comment "?(?P<policy>[a-z0-9.-]+/[a-z0-9.-]+) (?P<direction>ingress|egress)\[(?P<index>\d+)\]')
_COMMENT = re.compile(r'--comment (?:"(?P<quoted>[^"]*)"|(?P<bare>\S+))')


def policy_rule(table: str | None, chain: str | None, rule: str) -> tuple[str | None, str | None, int | None, str] | None:
    """What a rule of Calico's policy chains enforces: (NetworkPolicy `namespace/name` or None, direction
    `ingress`/`egress` or None, index of the policy rule or None, reason: the rule's comment). None for a rule
    that is not in one of Calico's filter chains (`cali-...`)."""
    if table != "filter" or not chain or not chain.startswith("cali"):
        return None
    direction = next((d for prefix, d in _CHAIN_DIRECTION.items() if chain.startswith(prefix)), None)
    label = _LABEL.search(rule)
    comment = _COMMENT.search(rule)
    reason = (comment.group("quoted") or comment.group("bare") or "") if comment else ""
    if label is None:
        return None, direction, None, reason
    return label.group("policy"), label.group("direction"), int(label.group("index")), reason
