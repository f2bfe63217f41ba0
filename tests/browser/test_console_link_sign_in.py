"""A `#token=` link does not sign in silently (issue 22, finding 9): the console names the
link's tenant and roles and waits for a confirmation; the page runs under its CSP."""

import httpx
import pytest
from selenium.webdriver.common.by import By
from selenium.webdriver.remote.webdriver import WebDriver

from tests.browser.test_console import css
from tests.e2e.api.test_api_http import stepwire_token
from tests.e2e.conftest import LocalProcess

pytestmark = pytest.mark.browser


def stored_token(driver: WebDriver) -> str | None:
    return driver.execute_script("return sessionStorage.getItem('stepwire.token')")


def test_a_link_names_its_tenant_and_signs_in_only_when_confirmed(browser, local) -> None:
    # Given a link carrying another tenant's token
    rival = stepwire_token(local, "rival", "admin")
    browser.get(f"{local.api_url}/console/#token={rival}")
    # Then the console asks, naming the tenant and roles, and has signed nobody in yet
    question = css(browser, "form.confirm-sign-in .question").text
    assert question == "Sign in as tenant rival (admin)?"
    assert stored_token(browser) is None
    assert "#token" not in browser.current_url
    # When the user cancels, nothing is signed in
    browser.find_element(By.CSS_SELECTOR, "form.confirm-sign-in button.cancel").click()
    css(browser, "form.sign-in textarea")
    assert stored_token(browser) is None
    # And when the user confirms a link, the console opens in that tenant
    browser.get(f"{local.api_url}/console/#token={rival}")
    css(browser, "form.confirm-sign-in button.confirm").click()
    assert "rival" in css(browser, "header.top .who").text
    assert stored_token(browser) == rival


def test_the_console_is_served_with_its_security_headers(local: LocalProcess) -> None:
    page = httpx.get(f"{local.api_url}/console/")

    policy = page.headers["content-security-policy"]
    assert "default-src 'self'" in policy and "frame-ancestors 'none'" in policy
    assert page.headers["x-content-type-options"] == "nosniff"
    assert page.headers["referrer-policy"] == "no-referrer"
