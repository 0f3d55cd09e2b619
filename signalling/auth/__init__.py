"""Authentication: password hashes, signed access tokens, browser log-in sessions."""
