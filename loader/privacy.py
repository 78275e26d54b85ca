"""Client IP addresses as ``CLICKSTREAM_IP_MODE`` says to store them: at the collector, and at load for
objects the old pipeline wrote with the full address."""

from __future__ import annotations

import hashlib
import hmac
import ipaddress
from functools import lru_cache

from loader.config import IngestSettings


@lru_cache(maxsize=65536)
def anonymize_ip(address: str | None, mode: str, salt: str | None = None) -> str | None:
    """``truncate`` zeroes the last IPv4 octet / last 80 IPv6 bits; ``hash`` is a salted HMAC."""
    if not address:
        return None
    if mode == "full":
        return address
    try:
        ip = ipaddress.ip_address(address.strip())
    except ValueError:
        return None
    if ip.version == 6 and ip.ipv4_mapped:  # ::ffff:a.b.c.d is an IPv4 client
        ip = ip.ipv4_mapped
    if mode == "hash":
        assert salt is not None
        return hmac.new(salt.encode(), ip.packed, hashlib.sha256).hexdigest()[:32]
    prefix = 24 if ip.version == 4 else 48
    return str(ipaddress.ip_network(f"{ip}/{prefix}", strict=False).network_address)


def anonymize_stored_ip(value: object, settings: IngestSettings) -> object:
    """An address found in a stored object, anonymised; anything that is no address (already a hash) unchanged.
    Truncating is idempotent, so addresses our collector already truncated stay as they are."""
    if not isinstance(value, str):
        return value
    try:
        ipaddress.ip_address(value.strip())
    except ValueError:
        return value
    return anonymize_ip(value, settings.ip_mode, settings.ip_salt)
