"""Per-token subjects (backend/pseudonyms.py): unlinkable without the key, read back with it."""

import base64
import secrets

import pytest
from hypothesis import given
from hypothesis import strategies as st

from backend.identity import new_subject
from backend.pseudonyms import TokenPseudonyms

KEY = TokenPseudonyms(b"k" * 32)
subjects = st.binary(min_size=9, max_size=9).map(lambda raw: base64.urlsafe_b64encode(raw).decode())
jtis = st.text(alphabet="ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_",
               min_size=8, max_size=8)
times = st.integers(min_value=0, max_value=2**53)


@given(subjects, jtis, times)
def test_the_server_reads_the_subject_back_from_the_token_alone(subject, jti, ms):
    pseudonym = KEY.new(subject, jti=jti, issued_ms=ms)
    assert len(pseudonym) == len(subject) == 12
    assert KEY.subject_of(pseudonym, jti=jti, issued_ms=ms) == subject


@given(subjects, jtis, jtis, times)
def test_two_tokens_of_one_subject_differ(subject, jti_a, jti_b, ms):
    if jti_a == jti_b:
        return
    assert KEY.new(subject, jti=jti_a, issued_ms=ms) != KEY.new(subject, jti=jti_b,
                                                                issued_ms=ms)
    assert KEY.new(subject, jti=jti_a, issued_ms=ms) != KEY.new(subject, jti=jti_a,
                                                                issued_ms=ms + 1)


def test_without_the_key_a_pseudonym_says_nothing_about_its_subject():
    subject = new_subject()
    made = {KEY.new(subject, jti=secrets.token_urlsafe(6), issued_ms=1) for _ in range(2000)}
    assert len(made) == 2000 and subject not in made
    # Each character position takes many values: no fixed part betrays the holder.
    for position in range(12):  # 12 characters of 6 bits: 72 bits, no padding
        assert len({p[position] for p in made}) > 40
    other_key = TokenPseudonyms(b"o" * 32)
    some = next(iter(made))
    assert all(other_key.subject_of(some, jti=j, issued_ms=1) != subject
               for j in ("AAAAAAAA", "zzzzzzzz"))


@pytest.mark.parametrize("pseudonym", [
    "", "short", "x" * 13, "a" * 11 + "=", "AAAAAAAAAAA.", "ÄAAAAAAAAAAA", None, 12,
])
def test_what_we_never_make_is_not_read_back(pseudonym):
    assert KEY.subject_of(pseudonym, jti="j", issued_ms=1) is None


def test_a_short_key_and_a_foreign_subject_are_refused():
    with pytest.raises(ValueError):
        TokenPseudonyms(b"short")
    with pytest.raises(ValueError):
        KEY.new("subject-1", jti="j", issued_ms=1)
