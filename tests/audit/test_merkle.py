"""gridwall.audit.merkle against an independent, literal reading of RFC 9162 §2.1.

The reference below is the RFC's recursive definitions transcribed as directly as
possible (MTH, PATH, PROOF/SUBPROOF) on lists of *entries*, sharing no code with the
module under test.
"""

from __future__ import annotations

import hashlib
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from gridwall.audit import merkle


def _h(b: bytes) -> bytes:
    return hashlib.sha256(b).digest()


def _k(n: int) -> int:
    k = 1
    while k * 2 < n:
        k *= 2
    return k


def mth(d: list[bytes]) -> bytes:
    n = len(d)
    if n == 0:
        return _h(b"")
    if n == 1:
        return _h(b"\x00" + d[0])
    k = _k(n)
    return _h(b"\x01" + mth(d[:k]) + mth(d[k:]))


def ref_path(m: int, d: list[bytes]) -> list[bytes]:
    n = len(d)
    if n == 1:
        return []
    k = _k(n)
    if m < k:
        return [*ref_path(m, d[:k]), mth(d[k:])]
    return [*ref_path(m - k, d[k:]), mth(d[:k])]


def ref_subproof(m: int, d: list[bytes], b: bool) -> list[bytes]:
    n = len(d)
    if m == n:
        return [] if b else [mth(d)]
    k = _k(n)
    if m <= k:
        return [*ref_subproof(m, d[:k], b), mth(d[k:])]
    return [*ref_subproof(m - k, d[k:], False), mth(d[:k])]


def ref_proof(m: int, d: list[bytes]) -> list[bytes]:
    return ref_subproof(m, d, True)


def entries(n: int) -> list[bytes]:
    return [f"entry-{i}".encode() for i in range(n)]


def leaves(d: list[bytes]) -> list[bytes]:
    return [merkle.leaf_hash(x) for x in d]


def test_hash_definitions() -> None:
    assert merkle.leaf_hash(b"abc") == _h(b"\x00abc")
    a, b = _h(b"a"), _h(b"b")
    assert merkle.node_hash(a, b) == _h(b"\x01" + a + b)
    assert merkle.root([]) == _h(b"")
    # RFC 6962 test vector: the empty tree and the one-leaf tree of the empty string.
    assert merkle.root([]).hex() == (
        "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"
    )
    assert merkle.root([merkle.leaf_hash(b"")]).hex() == (
        "6e340b9cffb37a989ca544e6bb780a2c78901d3fb33738768511a30617afa01d"
    )


def test_known_vector_rfc6962_eight_leaves() -> None:
    # The 8 leaves used by the CT test suites (certificate-transparency-go).
    raw = [
        "",
        "00",
        "10",
        "2021",
        "3031",
        "40414243",
        "5051525354555657",
        "606162636465666768696a6b6c6d6e6f",
    ]
    d = [bytes.fromhex(x) for x in raw]
    assert merkle.root(leaves(d)).hex() == (
        "5dc9da79a70659a9ad559cb701ded9a2ab9d823aad2f4960cfe370eff4604328"
    )


@settings(max_examples=150, deadline=None)
@given(n=st.integers(min_value=0, max_value=70))
def test_root_matches_rfc(n: int) -> None:
    d = entries(n)
    assert merkle.root(leaves(d)) == mth(d)


@settings(max_examples=150, deadline=None)
@given(data=st.data(), n=st.integers(min_value=1, max_value=70))
def test_inclusion_matches_rfc_and_verifies(data: st.DataObject, n: int) -> None:
    d = entries(n)
    lh = leaves(d)
    m = data.draw(st.integers(min_value=0, max_value=n - 1))
    proof = merkle.inclusion_proof(lh, m)
    assert proof == ref_path(m, d)
    r = mth(d)
    assert merkle.verify_inclusion(lh[m], m, n, proof, r)
    # every other index, size and leaf fails
    for other in range(n):
        if other != m:
            assert not merkle.verify_inclusion(lh[other], m, n, proof, r)
            assert not merkle.verify_inclusion(lh[m], other, n, proof, r) or (
                merkle.inclusion_proof(lh, other) == proof and lh[other] == lh[m]
            )
    for size in {n - 1, n + 1, 2 * n, 0, m}:
        # The size is not bound into the root: a wrong size can only pass when it gives
        # the very same path shape. Sizes not above the index or with another path
        # length must fail.
        if size <= m or len(ref_path(m, entries(size))) != len(proof):
            assert not merkle.verify_inclusion(lh[m], m, size, proof, r)


@settings(max_examples=150, deadline=None)
@given(data=st.data(), n2=st.integers(min_value=0, max_value=70))
def test_consistency_matches_rfc_and_verifies(data: st.DataObject, n2: int) -> None:
    d = entries(n2)
    lh = leaves(d)
    n1 = data.draw(st.integers(min_value=0, max_value=n2))
    proof = merkle.consistency_proof(lh, n1, n2)
    if 0 < n1 < n2:
        assert proof == ref_proof(n1, d)
    else:
        assert proof == []
    r1, r2 = mth(d[:n1]), mth(d)
    assert merkle.verify_consistency(n1, n2, proof, r1, r2)
    # a different first size or swapped roots fail
    for s in range(n2 + 1):
        if s != n1 and mth(d[:s]) != r1:
            assert not merkle.verify_consistency(s, n2, proof, r1, r2)
    if n1 < n2:
        assert not merkle.verify_consistency(n1, n2, proof, r2, r1)
        assert not merkle.verify_consistency(n2, n1, proof, r2, r1)


ROOT5 = mth(entries(5))
LH5 = leaves(entries(5))
P5_2 = merkle.inclusion_proof(LH5, 2)


@pytest.mark.parametrize(
    "args",
    [
        (LH5[2], 5, 5, P5_2, ROOT5),  # index == size
        (LH5[2], -1, 5, P5_2, ROOT5),  # negative index
        (LH5[2], 2, 4, P5_2, ROOT5),  # wrong size
        (LH5[2], 2, 16, P5_2, ROOT5),
        (LH5[2], 2, 0, P5_2, ROOT5),
        (LH5[2], 2, -5, P5_2, ROOT5),
        (LH5[2], 3, 5, P5_2, ROOT5),  # wrong index
        (LH5[3], 2, 5, P5_2, ROOT5),  # wrong leaf
        (LH5[2], 2, 5, P5_2, _h(b"x")),  # wrong root
        (LH5[2], 2, 5, P5_2[:-1], ROOT5),  # truncated
        (LH5[2], 2, 5, [*P5_2, P5_2[0]], ROOT5),  # extended
        (LH5[2], 2, 5, [P5_2[0] + b"\x00", *P5_2[1:]], ROOT5),  # element too long
        (LH5[2], 2, 5, [P5_2[0][:31], *P5_2[1:]], ROOT5),  # element too short
        (LH5[2], 2, 5, [P5_2[0].hex(), *P5_2[1:]], ROOT5),  # element str
        (LH5[2], 2, 5, [None, *P5_2[1:]], ROOT5),  # element None
        (LH5[2], 2, 5, list(reversed(P5_2)), ROOT5),  # reordered
        (LH5[2], 2, 5, None, ROOT5),  # proof None
        (LH5[2], 2, 5, b"".join(P5_2), ROOT5),  # proof bytes
        (LH5[2], 2, 5, "proof", ROOT5),
        (LH5[2][:31], 2, 5, P5_2, ROOT5),  # short leaf
        (LH5[2].hex(), 2, 5, P5_2, ROOT5),  # str leaf
        (bytearray(LH5[2]), 2, 5, P5_2, ROOT5),  # not bytes
        (LH5[2], 2, 5, P5_2, ROOT5[:31]),  # short root
        (LH5[2], 2, 5, P5_2, None),
        (LH5[2], 2.0, 5, P5_2, ROOT5),  # float index
        (LH5[2], True, 5, P5_2, ROOT5),  # bool index
        (LH5[2], "2", 5, P5_2, ROOT5),
        (LH5[2], 2, "5", P5_2, ROOT5),
        (LH5[2], 2, 2**70, P5_2, ROOT5),  # huge size
        (None, None, None, None, None),
    ],
)
def test_verify_inclusion_rejects_malformed(args: tuple[Any, ...]) -> None:
    assert merkle.verify_inclusion(*args) is False


def test_verify_inclusion_accepts_the_good_one() -> None:
    assert merkle.verify_inclusion(LH5[2], 2, 5, P5_2, ROOT5) is True
    assert merkle.verify_inclusion(LH5[2], 2, 5, tuple(P5_2), ROOT5) is True
    # single-leaf tree: empty proof
    one = merkle.leaf_hash(b"x")
    assert merkle.verify_inclusion(one, 0, 1, [], one)
    assert not merkle.verify_inclusion(one, 0, 1, [one], one)


D7 = entries(7)
LH7 = leaves(D7)
R3, R7 = mth(D7[:3]), mth(D7)
C37 = merkle.consistency_proof(LH7, 3, 7)
R4 = mth(D7[:4])
C47 = merkle.consistency_proof(LH7, 4, 7)


@pytest.mark.parametrize(
    "args",
    [
        (4, 7, C37, R3, R7),  # wrong size1
        (2, 7, C37, R3, R7),
        (3, 4, C37, R3, R7),  # wrong size2 (5..8 share the shape of 7: sizes are not hashed)
        (3, 9, C37, R3, R7),
        (7, 3, C37, R7, R3),  # size1 > size2
        (8, 7, C37, R3, R7),
        (-1, 7, C37, R3, R7),
        (3, 7, C37, R4, R7),  # wrong root1
        (3, 7, C37, R3, R4),  # wrong root2
        (3, 7, C37[:-1], R3, R7),  # truncated
        (3, 7, [*C37, C37[0]], R3, R7),  # extended
        (3, 7, [], R3, R7),  # empty
        (3, 7, list(reversed(C37)), R3, R7),
        (3, 7, [C37[0][:31], *C37[1:]], R3, R7),
        (3, 7, [C37[0] + b"!", *C37[1:]], R3, R7),
        (3, 7, [1, *C37[1:]], R3, R7),
        (3, 7, None, R3, R7),
        (3, 7, "abc", R3, R7),
        (3, 7, C37, R3[:31], R7),
        (3, 7, C37, R3, None),
        (3, 7, C37, R3.hex(), R7),
        (3.0, 7, C37, R3, R7),
        (True, 7, C37, R3, R7),
        (3, "7", C37, R3, R7),
        (4, 7, [R4, *C47], R4, R7),  # power-of-two size1 with root1 wrongly included
        (4, 7, C47[:-1], R4, R7),
        (7, 7, [R7], R7, R7),  # equal sizes need an empty proof
        (7, 7, [], R7, R3),  # equal sizes, different roots
        (0, 7, [R7], merkle.EMPTY_ROOT, R7),  # empty first tree needs an empty proof
        (0, 7, [], R3, R7),  # empty first tree must have the empty root
        (None, None, None, None, None),
    ],
)
def test_verify_consistency_rejects_malformed(args: tuple[Any, ...]) -> None:
    assert merkle.verify_consistency(*args) is False


def test_verify_consistency_accepts_the_good_ones() -> None:
    assert merkle.verify_consistency(3, 7, C37, R3, R7)
    assert merkle.verify_consistency(4, 7, C47, R4, R7)
    assert merkle.verify_consistency(7, 7, [], R7, R7)
    assert merkle.verify_consistency(0, 7, [], merkle.EMPTY_ROOT, R7)
    assert merkle.verify_consistency(0, 0, [], merkle.EMPTY_ROOT, merkle.EMPTY_ROOT)


@settings(max_examples=200, deadline=None)
@given(
    n=st.integers(min_value=1, max_value=40),
    data=st.data(),
)
def test_any_single_bit_flip_in_a_proof_fails(n: int, data: st.DataObject) -> None:
    d = entries(n)
    lh = leaves(d)
    m = data.draw(st.integers(min_value=0, max_value=n - 1))
    proof = merkle.inclusion_proof(lh, m)
    if not proof:
        return
    i = data.draw(st.integers(min_value=0, max_value=len(proof) - 1))
    bit = data.draw(st.integers(min_value=0, max_value=255))
    bad = bytearray(proof[i])
    bad[bit // 8] ^= 1 << (bit % 8)
    tampered = [*proof[:i], bytes(bad), *proof[i + 1 :]]
    assert not merkle.verify_inclusion(lh[m], m, n, tampered, mth(d))


def test_reference_proof_builders_reject_bad_ranges() -> None:
    with pytest.raises(ValueError):
        merkle.inclusion_proof(LH5, 5)
    with pytest.raises(ValueError):
        merkle.consistency_proof(LH5, 3, 6)
    with pytest.raises(ValueError):
        merkle.consistency_proof(LH5, 4, 3)
