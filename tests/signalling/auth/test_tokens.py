"""Token verification answers InvalidToken to anything that is not a good token.

Both cases were found by `make fuzz` (fuzz/tokens.py): they escaped as
UnicodeEncodeError and OverflowError/TypeError instead of a refusal."""

from __future__ import annotations

from datetime import timedelta

import jwt
import pytest

from signalling.auth.tokens import ALGORITHM, ISSUER, Audience, InvalidToken, TokenSigner

KEY = b"k" * 48


def test_a_lone_surrogate_is_an_invalid_token() -> None:
    # what room.join's JSON "\udcff" becomes
    with pytest.raises(InvalidToken):
        TokenSigner(KEY).verify("\udcff", audience=Audience.API)


@pytest.mark.parametrize(
    "claim", [9007199254740993, 7714781850924744704, "1796238534", True, 1e300]
)
def test_a_signed_time_claim_out_of_range_is_an_invalid_token(claim: object) -> None:
    signer = TokenSigner(KEY)
    good, _ = signer.issue(subject="user:1", audience=Audience.API, ttl=timedelta(minutes=5))
    payload = jwt.decode(good, KEY, algorithms=[ALGORITHM], audience="api", issuer=ISSUER)
    forged = jwt.encode({**payload, "iat": claim}, KEY, algorithm=ALGORITHM)
    with pytest.raises(InvalidToken):
        signer.verify(forged, audience=Audience.API)


def test_a_good_token_still_verifies() -> None:
    signer = TokenSigner(KEY)
    token, issued = signer.issue(subject="user:7", audience=Audience.API, ttl=timedelta(minutes=5))
    claims = signer.verify(token, audience=Audience.API)
    assert claims.subject == "user:7" and claims.token_id == issued.token_id
