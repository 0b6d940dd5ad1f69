"""Password policy (NIST SP 800-63B) and Argon2id hashing."""

from __future__ import annotations

import pytest

from gridwall.identity._passwords import (
    MAX_LENGTH,
    TEST_PARAMS,
    HashParams,
    PasswordHashing,
    WeakPassword,
    check_password,
)


@pytest.mark.parametrize(
    ("password", "why"),
    [
        ("short pass", "too short"),
        ("x" * (MAX_LENGTH + 1), "too long"),
        ("password1234", "common"),
        ("Password1234", "common"),
        ("sakura123456", "common"),
        ("qwertyuiop12!!", "appended"),
        ("gridwall!!!!!!", "appended"),
        ("aaaaaaaaaaaaaaa", "repetitive"),
        ("abcabcabcabcabc", "repetitive"),
        ("345678901234", "sequential"),
        ("my name is yamada taro", "yamada"),
        ("nw-yamada-is-my-login", "yamada"),
        ("i love the takuso system", "takuso"),
        ("tab\there is bad!", "control"),
    ],
)
def test_weak_passwords_refused_with_reason(password: str, why: str) -> None:
    with pytest.raises(WeakPassword, match=why):
        check_password(password, ("nw-yamada", "P100", "Yamada", "Taro"))


@pytest.mark.parametrize(
    "password",
    [
        "correct horse battery staple",  # no composition rules: lowercase words are fine
        "kumo no ue no sora 2026 haru",
        "雲の上の空はいつも青いね",  # Unicode passphrases (12 characters)
        "tsukimi dango 15",
        "z" * 60 + "abc" * 20,  # up to 128 characters
    ],
)
def test_good_passwords_accepted(password: str) -> None:
    assert check_password(password, ("nw-yamada",))


def test_nfkc_normalisation_matches_fullwidth() -> None:
    ph = PasswordHashing(TEST_PARAMS)
    h = ph.hash(check_password("ｋｕｍｏ ｎｏ ｕｅ ｎｏ ｓｏｒａ"))
    assert ph.verify(h, "kumo no ue no sora")
    assert not ph.verify(h, "kumo no ue no umi")
    assert not ph.verify(None, "kumo no ue no sora")


def test_argon2id_with_rfc9106_defaults() -> None:
    h = PasswordHashing(TEST_PARAMS).hash("correct horse battery staple")
    assert h.startswith("$argon2id$")
    prod = HashParams()
    assert (prod.time_cost, prod.memory_kib, prod.parallelism) == (3, 65536, 4)
    assert PasswordHashing(prod).needs_rehash(h)  # weaker hashes are upgraded at login
