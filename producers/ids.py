"""Every identifier the generator writes, and the stream id that keeps two streams' identifiers apart.

The stream id is six Crockford base-32 characters hashed from everything that decides a stream's
content (seed, population sizes, start, fraud and anomaly rates, label delays, generator version) but not
the shard, so the shards of one run share it. Customer, merchant, transaction, instrument, terminal and
device ids and every VPA carry it, so records of two streams with different seeds or configs never share a
key (two configs share a stream id with probability 2**-30).

Identifiers do not say who controls them: fraudsters' devices and accounts are numbered in the same spaces
and spelled by the same functions as everyone else's. Device ids and person VPAs hide their ordinal behind
a bijective mix (`scramble`), so neither a format nor an id range sets any group apart.

>>> sid = stream_id(42, 10_000, 2_000, "2025-10-01", 0.02, 0.02, "default", 2)
>>> len(sid), sid == stream_id(42, 10_000, 2_000, "2025-10-01", 0.02, 0.02, "default", 2)
(6, True)
>>> customer_id("7KQ2MX", 41)
'C7KQ2MX-00000042'
>>> person_vpa("7KQ2MX", "Asha", "Rao", 5, "@oksbi") == person_vpa("7KQ2MX", "Asha", "Rao", 5, "@oksbi")
True
"""

from __future__ import annotations

import hashlib

import numpy as np
import numpy.typing as npt

_CROCKFORD = "0123456789ABCDEFGHJKMNPQRSTVWXYZ"
_MASK64 = (1 << 64) - 1
_MASK32 = (1 << 32) - 1


def stream_id(seed: int, customers: int, merchants: int, start: str, fraud_rate: float, anomaly_rate: float,
              label_delay: str, generator_version: int) -> str:
    """Six base-32 characters that depend on every input of the stream's content."""
    text = f"{seed}|{customers}|{merchants}|{start}|{fraud_rate!r}|{anomaly_rate!r}|{label_delay}|{generator_version}"
    value = int.from_bytes(hashlib.blake2b(text.encode(), digest_size=8).digest(), "big") >> 34
    return "".join(_CROCKFORD[(value >> shift) & 31] for shift in range(25, -1, -5))


def scenario_id(sid: str, scenario: int) -> str:
    """The id a label gives the scenario numbered `scenario` (its transactions share it)."""
    return f"S{sid}-{scenario:010d}"


def customer_id(sid: str, k: int) -> str:
    return f"C{sid}-{k + 1:08d}"


def merchant_id(sid: str, j: int) -> str:
    return f"M{sid}-{j + 1:07d}"


def instrument_id(sid: str, k: int, mode: int) -> str:
    return f"I{sid}-{k + 1:08d}-{mode}"


def terminal_id(sid: str, j: int, t: int) -> str:
    return f"P{sid}-{j + 1:07d}-{t:02d}"


def atm_terminal_id(sid: str, city: int) -> str:
    return f"A{sid}-{city + 1:07d}-00"


def transaction_prefix(sid: str) -> bytes:
    """What every transaction id of the stream starts with (`producers.records.transaction_ids`)."""
    return f"T{sid}-".encode()


def _key(sid: str, purpose: str) -> int:
    return int.from_bytes(hashlib.blake2b(f"{sid}|{purpose}".encode(), digest_size=8).digest(), "big")


def scramble(values: npt.NDArray[np.int64], sid: str, purpose: str) -> npt.NDArray[np.uint64]:
    """A bijection of 64-bit integers keyed by (stream, purpose): splitmix64's finaliser of value ^ key.
    Distinct ordinals give distinct results, and consecutive ordinals look unrelated."""
    with np.errstate(over="ignore"):
        z = values.astype(np.uint64) ^ np.uint64(_key(sid, purpose))
        z = (z ^ (z >> np.uint64(30))) * np.uint64(0xBF58476D1CE4E5B9)
        z = (z ^ (z >> np.uint64(27))) * np.uint64(0x94D049BB133111EB)
        return z ^ (z >> np.uint64(31))


def device_ids(sid: str, ordinals: npt.NDArray[np.int64]) -> list[str]:
    """`D<stream>-<20 decimal digits>`: one device per ordinal, every owner's (customers' and fraudsters')
    devices from one ordinal space, every id of one format."""
    return [f"D{sid}-{h:020d}" for h in scramble(ordinals, sid, "device").tolist()]


def person_tags(sid: str, ordinals: npt.NDArray[np.int64]) -> list[str]:
    """Ten decimal digits per person (every tag the same format), distinct for distinct ordinals below
    2**32 (a keyed 32-bit bijection: xor with the key, an odd multiplier and a right xor-shift, each
    invertible modulo 2**32)."""
    key = _key(sid, "person")
    x = ordinals.astype(np.int64) & _MASK32
    for shift, multiplier in ((16, 0x85EBCA6B), (13, 0xC2B2AE35), (16, 0x27D4EB2F)):
        x = ((x ^ (key & _MASK32)) * multiplier) & _MASK32
        x ^= x >> shift
        key >>= 11
    return [f"{v:010d}" for v in x.tolist()]


def person_vpa(sid: str, first: str, last: str, ordinal: int, handle: str) -> str:
    """A person's UPI VPA: `first.last.<10-digit tag><stream>@handle`, whoever the person is (a customer, a payee,
    a shop owner or a fraudster's account)."""
    return vpa_from_tag(sid, first, last, person_tags(sid, np.array([ordinal]))[0], handle)


def vpa_from_tag(sid: str, first: str, last: str, tag: str, handle: str) -> str:
    return f"{first.lower()}.{last.lower()}.{tag}{sid.lower()}{handle}"


# India's largest IPv4 blocks (/10 to /14) in APNIC's delegation to IN, as collected per country by
# github.com/herrbischoff/country-ip-blocks (ipv4/in.cidr, September 2025): the mobile and broadband
# operators' address pools most Indian payments come from. A payer's address is drawn in them with
# probability proportional to block size; an address says the payment came from India, never whose it is
# (operators share mobile addresses between many subscribers behind carrier-grade NAT).
INDIAN_IPV4_BLOCKS: tuple[str, ...] = (
    "14.96.0.0/14", "14.140.0.0/14", "27.4.0.0/14", "27.56.0.0/13", "27.248.0.0/14", "42.104.0.0/13",
    "49.32.0.0/12", "49.136.0.0/14", "49.200.0.0/13", "59.88.0.0/13", "59.96.0.0/14", "59.160.0.0/14",
    "59.176.0.0/13", "61.0.0.0/14", "101.208.0.0/12", "106.76.0.0/14", "106.192.0.0/11", "110.224.0.0/14",
    "115.96.0.0/14", "115.108.0.0/14", "115.112.0.0/13", "115.240.0.0/12", "116.72.0.0/14", "117.96.0.0/14",
    "117.192.0.0/10", "120.56.0.0/13", "121.240.0.0/13", "122.160.0.0/12", "122.176.0.0/13", "122.184.0.0/14",
    "123.236.0.0/14", "125.16.0.0/13", "152.56.0.0/14", "157.32.0.0/12", "157.48.0.0/14", "171.48.0.0/12",
    "171.76.0.0/14", "182.56.0.0/14", "182.64.0.0/12", "220.224.0.0/14", "223.176.0.0/12", "223.228.0.0/14",
    "223.232.0.0/13",
)


def _block_table() -> tuple[npt.NDArray[np.int64], npt.NDArray[np.int64]]:
    """Each block's first /24 network number and the cumulative count of /24 networks up to its end."""
    firsts, sizes = [], []
    for block in INDIAN_IPV4_BLOCKS:
        address, bits = block.split("/")
        octets = [int(x) for x in address.split(".")]
        firsts.append((octets[0] << 16) | (octets[1] << 8) | octets[2])
        sizes.append(1 << (24 - int(bits)))
    return np.array(firsts, dtype=np.int64), np.cumsum(sizes, dtype=np.int64)


_BLOCK_FIRST_NET, _BLOCK_END = _block_table()


def ip_address(a: float, b: float, c: float) -> str:
    """A payer's IPv4 address from three uniforms, whoever holds the device: a /24 network in
    `INDIAN_IPV4_BLOCKS` (uniform over their /24s, from `a` and `b`), a host 1-254 in it (from `c`).

    >>> ip_address(0.0, 0.0, 0.0), ip_address(0.999999, 0.999999, 0.999999)
    ('14.96.0.1', '223.239.255.254')
    """
    total = int(_BLOCK_END[-1])
    net = min(int((a + b / total) * total), total - 1)  # b refines a below one /24
    block = int(np.searchsorted(_BLOCK_END, net, side="right"))
    number = int(_BLOCK_FIRST_NET[block]) + net - (int(_BLOCK_END[block - 1]) if block else 0)
    return f"{number >> 16}.{(number >> 8) & 255}.{number & 255}.{1 + int(c * 254)}"
