#!/usr/bin/env python3
"""Independent verifier for libredpacket's verifiable splits.

This file is written from the specification alone: docs/fairness.md
("Verifiable splits").  It re-implements, with the Python standard library
only,

  * the commitment (section 2): SHA-256 over a fixed tag, the packet's terms
    and the seed;
  * the generator (section 3): xoshiro256** seeded directly with the seed's
    four little-endian 64-bit words, with next(), below() (Lemire's method
    with the exact rejection rule) and between();
  * the four split policies (section 4): double_mean, line_cut (dense and
    sparse point selection), equal and fixed.

Usage:

  verify_split.py PROOF.json            check a proof ('-' reads stdin)
  verify_split.py --vectors FILE        check test vectors
  verify_split.py --shares --packet ID --policy P --total T --count N \\
                  [--min-share M] --seed HEX
                                        print a vector computed from terms

Exit status: 0 valid / all vectors match, 1 invalid / some vector differs,
2 unreadable input.
"""

import argparse
import hashlib
import json
import sys
from dataclasses import dataclass

PROG = "verify_split.py"

MASK64 = (1 << 64) - 1
I64_MAX = (1 << 63) - 1
MAX_TOTAL = 10**15
MAX_COUNT = 100_000
COMMIT_TAG = b"libredpacket/commit/v1"

POLICIES = {"double_mean": 0, "line_cut": 1, "equal": 2, "fixed": 3}

PROOF_FIELDS = {"packet", "policy", "total", "count", "min_share",
                "commitment", "seed", "shares", "claims"}
CLAIM_FIELDS = {"index", "amount", "user"}


class InputError(Exception):
    """The input cannot be read as a proof (exit status 2)."""


# --------------------------------------------------------------------------
# Section 3: the generator
# --------------------------------------------------------------------------

def rotl(x: int, k: int) -> int:
    """Rotate a u64 left by k bits."""
    return ((x << k) | (x >> (64 - k))) & MASK64


class Xoshiro256StarStar:
    """xoshiro256** whose state is the 32-byte seed, read little-endian."""

    def __init__(self, seed: bytes):
        if len(seed) != 32:
            raise ValueError("the seed must be 32 bytes")
        self.s = [int.from_bytes(seed[8 * i:8 * i + 8], "little")
                  for i in range(4)]

    def next(self) -> int:
        """64 random bits."""
        s0, s1, s2, s3 = self.s
        result = (rotl((s1 * 5) & MASK64, 7) * 9) & MASK64
        t = (s1 << 17) & MASK64
        s2 ^= s0
        s3 ^= s1
        s1 ^= s2
        s0 ^= s3
        s2 ^= t
        s3 = rotl(s3, 45)
        self.s = [s0, s1, s2, s3]
        return result

    def below(self, bound: int) -> int:
        """A uniform integer in [0, bound), Lemire 2019 (exact)."""
        if not 1 <= bound <= MASK64:
            raise ValueError(f"below({bound}): bound out of u64 range")
        m = self.next() * bound
        low = m & MASK64
        if low < bound:
            threshold = ((1 << 64) - bound) % bound
            while low < threshold:
                m = self.next() * bound
                low = m & MASK64
        return m >> 64

    def between(self, lo: int, hi: int) -> int:
        """A uniform integer in [lo, hi]; between(x, x) still draws once."""
        if lo > hi:
            raise ValueError(f"between({lo}, {hi}): empty range")
        span = (hi - lo) & MASK64
        offset = self.next() if span == MASK64 else self.below(span + 1)
        return lo + offset


# --------------------------------------------------------------------------
# Section 1 and 2: terms and commitment
# --------------------------------------------------------------------------

@dataclass(frozen=True)
class Terms:
    packet: int
    policy: str
    total: int
    count: int
    min_share: int
    seed: bytes


def commitment(terms: Terms) -> bytes:
    """SHA-256 over tag, packet, total, count, policy, min_share, seed."""
    data = (COMMIT_TAG
            + terms.packet.to_bytes(8, "big")
            + terms.total.to_bytes(8, "big", signed=True)
            + terms.count.to_bytes(4, "big")
            + bytes([POLICIES[terms.policy]])
            + terms.min_share.to_bytes(8, "big", signed=True)
            + terms.seed)
    assert len(data) == 83
    return hashlib.sha256(data).digest()


# --------------------------------------------------------------------------
# Section 4: the policies
# --------------------------------------------------------------------------

def split_double_mean(rng, total: int, count: int, min_share: int) -> list:
    """WeChat's "double the mean"."""
    shares = []
    rest = total
    for i in range(count - 1):
        left = count - i
        hi = min(2 * rest // left, rest - (left - 1) * min_share)
        share = rng.between(min_share, hi)
        shares.append(share)
        rest -= share
    shares.append(rest)
    return shares


def cut_points_dense(rng, line: int, k: int) -> list:
    """Selection sampling (Knuth's Algorithm S) of k points in 1 .. line."""
    points = []
    needed = k
    v = 1
    while v <= line and needed > 0:
        remaining = line - v + 1
        if rng.below(remaining) < needed:
            points.append(v)
            needed -= 1
        v += 1
    return points


def cut_points_sparse(rng, line: int, k: int) -> list:
    """Draw, sort, drop duplicates, redraw the missing ones."""
    points = [0] * k
    have = 0
    while have < k:
        for i in range(have, k):
            points[i] = rng.between(1, line)
        distinct = sorted(set(points))
        have = len(distinct)
        points[:have] = distinct
    return points


def split_line_cut(rng, total: int, count: int, min_share: int) -> list:
    """Cut a line at uniformly chosen points; shares are the gaps."""
    n = count
    spare = total - n * min_share
    line = spare + n - 1
    k = n - 1
    if k == 0:
        points = []
    elif line <= 4 * k:
        points = cut_points_dense(rng, line, k)
    else:
        points = cut_points_sparse(rng, line, k)
    shares = []
    prev = 0
    for point in points:
        shares.append(point - prev - 1 + min_share)
        prev = point
    shares.append(line - prev + min_share)
    return shares


def split_equal(total: int, count: int) -> list:
    each, extra = divmod(total, count)
    return [each + (1 if i < extra else 0) for i in range(count)]


def compute_shares(terms: Terms) -> list:
    """All shares of a packet, in hand-out order."""
    rng = Xoshiro256StarStar(terms.seed)
    if terms.policy == "double_mean":
        return split_double_mean(rng, terms.total, terms.count,
                                 terms.min_share)
    if terms.policy == "line_cut":
        return split_line_cut(rng, terms.total, terms.count, terms.min_share)
    if terms.policy == "equal":
        return split_equal(terms.total, terms.count)
    if terms.policy == "fixed":
        return [terms.total]
    raise ValueError(f"unknown policy {terms.policy!r}")


# --------------------------------------------------------------------------
# Input validation
# --------------------------------------------------------------------------

def json_type(value) -> str:
    """The JSON name of a decoded value's type, for error messages."""
    if isinstance(value, bool):
        return "a boolean"
    if value is None:
        return "null"
    names = {int: "an integer", float: "a non-integer number",
             str: "a string", list: "an array", dict: "an object"}
    return names.get(type(value), type(value).__name__)


def need_int(value, name: str, lo=None, hi=None) -> int:
    """An integer (not a boolean, not a float) within [lo, hi]."""
    if isinstance(value, bool) or not isinstance(value, int):
        raise InputError(f"{name} must be an integer, not {json_type(value)}")
    if lo is not None and value < lo:
        raise InputError(f"{name} {value} is below {lo}")
    if hi is not None and value > hi:
        raise InputError(f"{name} {value} is above {hi}")
    return value


def need_hex32(value, name: str) -> bytes:
    """32 bytes written as 64 hex digits."""
    if not isinstance(value, str):
        raise InputError(f"{name} must be a string of 64 hex digits, "
                         f"not {json_type(value)}")
    if len(value) != 64 or any(c not in "0123456789abcdefABCDEF"
                               for c in value):
        raise InputError(f"{name} must be 64 hex digits, got {value!r}")
    return bytes.fromhex(value)


def make_terms(packet, policy, total, count, min_share, seed) -> Terms:
    """Validate the terms as section 1 of docs/fairness.md says."""
    packet = need_int(packet, "packet", 0, MASK64)
    if not isinstance(policy, str):
        raise InputError(f"policy must be a string, not {json_type(policy)}")
    if policy not in POLICIES:
        raise InputError(f"unknown policy {policy!r} "
                         f"(one of {', '.join(POLICIES)})")
    total = need_int(total, "total", 1, MAX_TOTAL)
    count = need_int(count, "count", 1, MAX_COUNT)
    if policy == "fixed" and count != 1:
        raise InputError(f"a fixed packet has count 1, not {count}")
    min_share = need_int(min_share, "min_share", 1, I64_MAX)
    if total // count < min_share:
        raise InputError(f"min_share {min_share} is above total / count "
                         f"= {total // count}")
    seed = need_hex32(seed, "seed")
    if seed == bytes(32):
        raise InputError("the seed is all zero")
    return Terms(packet, policy, total, count, min_share, seed)


def terms_from_object(obj: dict) -> Terms:
    """Terms from a proof or vector object; min_share defaults to 1."""
    for field in ("packet", "policy", "total", "count", "seed"):
        if field not in obj:
            raise InputError(f"missing field {field!r}")
    return make_terms(obj["packet"], obj["policy"], obj["total"],
                      obj["count"], obj.get("min_share", 1), obj["seed"])


def parse_shares(value) -> list:
    if not isinstance(value, list):
        raise InputError(f"shares must be an array, not {json_type(value)}")
    return [need_int(v, f"shares[{i}]") for i, v in enumerate(value)]


def parse_claims(value) -> list:
    """A list of (index, amount) pairs."""
    if not isinstance(value, list):
        raise InputError(f"claims must be an array, not {json_type(value)}")
    claims = []
    for i, claim in enumerate(value):
        if not isinstance(claim, dict):
            raise InputError(f"claims[{i}] must be an object, "
                             f"not {json_type(claim)}")
        unknown = sorted(set(claim) - CLAIM_FIELDS)
        if unknown:
            raise InputError(f"claims[{i}] has unknown field {unknown[0]!r}")
        for field in ("index", "amount"):
            if field not in claim:
                raise InputError(f"claims[{i}] is missing {field!r}")
        if "user" in claim:
            need_int(claim["user"], f"claims[{i}].user", 0)
        index = need_int(claim["index"], f"claims[{i}].index", 0)
        amount = need_int(claim["amount"], f"claims[{i}].amount")
        claims.append((index, amount))
    return claims


def reject_duplicate_keys(pairs):
    """object_pairs_hook: a key given twice makes the input ambiguous."""
    obj = {}
    for key, value in pairs:
        if key in obj:
            raise InputError(f"field {key!r} is given twice")
        obj[key] = value
    return obj


def load_json(path: str):
    """Read and decode a JSON file ('-' is stdin)."""
    name = "standard input" if path == "-" else path
    try:
        if path == "-":
            text = sys.stdin.buffer.read().decode("utf-8")
        else:
            with open(path, "rb") as f:
                text = f.read().decode("utf-8")
    except OSError as e:
        raise InputError(f"cannot read {name}: {e.strerror or e}") from None
    except UnicodeDecodeError:
        raise InputError(f"{name} is not UTF-8 text") from None
    try:
        return json.loads(text, object_pairs_hook=reject_duplicate_keys)
    except json.JSONDecodeError as e:
        raise InputError(f"{name} is not valid JSON: {e}") from None
    except (ValueError, RecursionError) as e:
        raise InputError(f"{name} is not usable JSON: {e}") from None


# --------------------------------------------------------------------------
# Checking a proof (section 6)
# --------------------------------------------------------------------------

@dataclass(frozen=True)
class Proof:
    terms: Terms
    commitment: bytes
    shares: list
    claims: list


def parse_proof(obj) -> Proof:
    if not isinstance(obj, dict):
        raise InputError(f"the proof must be a JSON object, "
                         f"not {json_type(obj)}")
    unknown = sorted(set(obj) - PROOF_FIELDS)
    if unknown:
        raise InputError(f"unknown field {unknown[0]!r}")
    if "commitment" not in obj:
        raise InputError("missing field 'commitment'")
    terms = terms_from_object(obj)
    commit = need_hex32(obj["commitment"], "commitment")
    shares = parse_shares(obj["shares"]) if "shares" in obj else []
    claims = parse_claims(obj["claims"]) if "claims" in obj else []
    return Proof(terms, commit, shares, claims)


def first_difference(proof: Proof):
    """None if the proof holds, else the first difference, in words."""
    if commitment(proof.terms) != proof.commitment:
        return "the seed does not match the commitment"
    count = proof.terms.count
    if len(proof.shares) > count:
        return f"{len(proof.shares)} shares reported, the packet has {count}"
    expected = compute_shares(proof.terms)
    for i, amount in enumerate(proof.shares):
        if amount != expected[i]:
            return f"share {i} is {amount} cents, the seed gives {expected[i]}"
    for index, amount in proof.claims:
        if index >= count:
            return f"share {index} does not exist ({count} shares)"
        if amount != expected[index]:
            return (f"share {index} is {amount} cents, "
                    f"the seed gives {expected[index]}")
    return None


def run_proof(path: str) -> int:
    proof = parse_proof(load_json(path))
    difference = first_difference(proof)
    if difference is None:
        print("valid")
        return 0
    print(f"invalid: {difference}")
    return 1


# --------------------------------------------------------------------------
# Test vectors (section 7)
# --------------------------------------------------------------------------

def vector_object(terms: Terms) -> dict:
    """A vector, with fields in the order tests/data/split_vectors.json has."""
    return {
        "packet": terms.packet,
        "policy": terms.policy,
        "total": terms.total,
        "count": terms.count,
        "min_share": terms.min_share,
        "seed": terms.seed.hex(),
        "commitment": commitment(terms).hex(),
        "shares": compute_shares(terms),
    }


def vector_mismatch(vector: dict):
    """None if the vector matches the spec, else what differs."""
    for field in ("commitment", "shares"):
        if field not in vector:
            raise InputError(f"missing field {field!r}")
    terms = terms_from_object(vector)
    given_commit = need_hex32(vector["commitment"], "commitment")
    given = parse_shares(vector["shares"])
    computed = vector_object(terms)
    if given_commit.hex() != computed["commitment"]:
        return (f"commitment is {given_commit.hex()}, "
                f"the spec gives {computed['commitment']}")
    expected = computed["shares"]
    for i, (a, b) in enumerate(zip(given, expected)):
        if a != b:
            return f"share {i} is {a} cents, the seed gives {b}"
    if len(given) != len(expected):
        return f"{len(given)} shares listed, the spec gives {len(expected)}"
    return None


def run_vectors(path: str) -> int:
    vectors = load_json(path)
    if not isinstance(vectors, list):
        raise InputError(f"{path} must hold a JSON array of vectors, "
                         f"not {json_type(vectors)}")
    failures = 0
    for n, vector in enumerate(vectors):
        label = f"vector {n}"
        try:
            if not isinstance(vector, dict):
                raise InputError(f"not an object but {json_type(vector)}")
            label += (f" (packet {vector.get('packet')}, "
                      f"{vector.get('policy')}, total {vector.get('total')}, "
                      f"count {vector.get('count')})")
            problem = vector_mismatch(vector)
        except InputError as e:
            problem = f"UNREADABLE: {e}"
        else:
            problem = problem and f"MISMATCH: {problem}"
        if problem is None:
            print(f"{label}: ok")
        else:
            failures += 1
            print(f"{label}: {problem}")
    return 0 if failures == 0 and vectors else 1


# --------------------------------------------------------------------------
# Command line
# --------------------------------------------------------------------------

def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog=PROG,
        description="Check a verifiable red-packet split "
                    "(specification: docs/fairness.md).")
    parser.add_argument("proof", nargs="?", metavar="PROOF.json",
                        help="proof to check ('-' for stdin)")
    parser.add_argument("--vectors", metavar="FILE",
                        help="check every test vector in FILE")
    parser.add_argument("--shares", action="store_true",
                        help="print the vector the given terms produce")
    parser.add_argument("--packet", type=int, help="packet id (u64)")
    parser.add_argument("--policy", help=", ".join(POLICIES))
    parser.add_argument("--total", type=int, help="cents, 1 .. 10^15")
    parser.add_argument("--count", type=int, help="shares, 1 .. 100000")
    parser.add_argument("--min-share", type=int,
                        help="smallest share in cents (default 1)")
    parser.add_argument("--seed", help="64 hex digits")
    return parser


def run_shares(args) -> int:
    for name in ("packet", "policy", "total", "count", "seed"):
        if getattr(args, name) is None:
            raise InputError(f"--shares needs --{name}")
    min_share = 1 if args.min_share is None else args.min_share
    terms = make_terms(args.packet, args.policy, args.total, args.count,
                       min_share, args.seed)
    print(json.dumps(vector_object(terms), indent=1))
    return 0


def main(argv=None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    modes = [args.proof is not None, args.vectors is not None, args.shares]
    if sum(modes) != 1:
        parser.error("give exactly one of PROOF.json, --vectors FILE "
                     "or --shares")
    term_options = ("packet", "policy", "total", "count", "min_share",
                    "seed")
    if not args.shares and any(getattr(args, o) is not None
                               for o in term_options):
        parser.error("--packet/--policy/--total/--count/--min-share/--seed "
                     "go with --shares")
    try:
        if args.vectors is not None:
            return run_vectors(args.vectors)
        if args.shares:
            return run_shares(args)
        return run_proof(args.proof)
    except InputError as e:
        print(f"{PROG}: {e}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
