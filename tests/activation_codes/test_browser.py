"""The redeem page's as-you-type check in a real headless browser (Playwright driving Debian's
Chromium), under the page's Content-Security-Policy: the format is checked in the page, whether
the code redeems by the server."""

import pytest

from tests.oidc.test_browser import chromium  # noqa: F401 (fixture)

pytestmark = pytest.mark.committed


def type_code(page, text: str) -> None:
    """Type into the code field as a person does (the page checks on every input)."""
    page.fill("#code", text)
    page.dispatch_event("#code", "input")


def test_the_code_is_checked_as_it_is_typed(live_server, chromium, make_config,  # noqa: F811
                                            mint):
    [code] = mint(make_config(), 1)
    page = chromium.new_page()
    errors = []
    page.on("pageerror", lambda error: errors.append(str(error)))
    page.on("console", lambda message: errors.append(message.text)
            if "Content Security Policy" in message.text else None)
    page.goto(f"{live_server.url}/redeem")
    status = page.locator("#code-status")

    type_code(page, code[:7])
    assert status.text_content() == "6 of 25 characters"

    type_code(page, "0" + code[1:])
    assert "never contain zero (0)" in status.text_content()

    typo = code[:-1] + ("A" if code[-1] != "A" else "B")
    type_code(page, typo)
    assert "typo" in status.text_content()

    type_code(page, code.lower().replace("-", " "))
    page.wait_for_selector("#code-status:has-text('Valid')", timeout=10_000)
    assert status.text_content() == "\u2713 Valid code for suite."
    assert errors == []  # nothing blocked by the CSP, no script errors


def test_the_check_speaks_the_pages_language(live_server, chromium, make_config,  # noqa: F811
                                             mint):
    [code] = mint(make_config(), 1)
    page = chromium.new_page(locale="de-DE")  # Accept-Language: de-DE
    page.goto(f"{live_server.url}/redeem")
    status = page.locator("#code-status")

    type_code(page, code[:7])
    assert status.text_content() == "6 von 25 Zeichen"
    type_code(page, "0" + code[1:])
    assert "Codes enthalten nie die Null (0)" in status.text_content()
    type_code(page, code)
    page.wait_for_selector("#code-status:has-text('Gültiger')", timeout=10_000)
    assert status.text_content() == "\u2713 Gültiger Code für suite."
