"""The field suite (issue 16): what a district site on a thin, lossy or broken
link gets, measured in real Chromium pages over shaped network namespaces
(tests/web_client/netns.py; root only, skipped with the reason elsewhere)."""

from tests.web_client.conftest import browser, client, platform, settings

__all__ = ["browser", "client", "platform", "settings"]
