"""The operator's Tenants page (issue 21) against `stepwire local`: create a tenant, see it
listed, issue it a token and sign in with it, suspend it; each role sees only its own pages."""

import subprocess
import sys
from urllib.parse import unquote, urlsplit

import pytest
from selenium.webdriver.common.by import By
from selenium.webdriver.remote.webdriver import WebDriver

from tests.browser.conftest import screenshot
from tests.browser.test_console import css, sign_in, until
from tests.e2e.conftest import ROOT, LocalProcess

pytestmark = pytest.mark.browser


def operator_token(local: LocalProcess) -> str:
    port = str(urlsplit(local.aws_endpoint).port)
    done = subprocess.run([sys.executable, "-m", "stepwire.cli", "token", "--operator",
                           "--ttl", "600", "--aws-port", port], cwd=ROOT, capture_output=True,
                          text=True, timeout=60, check=True)
    token = done.stdout.strip()
    assert done.stdout == token + "\n" and token.count(".") == 2  # the JWT alone
    return token


def tenant_row(driver: WebDriver, tenant: str):
    return driver.find_element(By.CSS_SELECTOR, f'tr[data-tenant="{tenant}"]')


def row_status(driver: WebDriver, tenant: str) -> str | None:
    rows = driver.find_elements(By.CSS_SELECTOR, f'tr[data-tenant="{tenant}"] [data-status]')
    return rows[0].get_attribute("data-status") if rows else None


def test_the_operator_creates_lists_tokens_and_suspends_a_tenant(browser, local) -> None:
    browser.provoked_statuses |= {409, 403}  # the second create, the suspended tenant
    # Given the operator signed in: only the Tenants page is offered
    sign_in(browser, local, operator_token(local))
    until(browser, lambda d: d.current_url.endswith("#/tenants"))
    nav = [a.text for a in browser.find_elements(By.CSS_SELECTOR, "header.top nav a")]
    assert nav == ["Tenants"]
    # When a tenant is created on the large tier
    form = css(browser, "form.create")
    form.find_element(By.NAME, "id").send_keys("northwind")
    form.find_element(By.NAME, "tier").send_keys("large")
    form.find_element(By.CSS_SELECTOR, "button[type=submit]").click()
    # Then it is listed, active, with the tier's limits
    until(browser, lambda d: row_status(d, "northwind") == "active")
    assert "large" in tenant_row(browser, "northwind").text
    assert "Created tenant northwind (large)" in css(browser, ".notice").text
    # When a second create names it again, the API's detail is shown
    form.find_element(By.NAME, "id").send_keys("northwind")
    form.find_element(By.CSS_SELECTOR, "button[type=submit]").click()
    until(browser, lambda d: d.find_elements(By.CSS_SELECTOR, ".notice .error"))
    # When a token is issued for it (from its row), the token is shown once with a link
    tenant_row(browser, "northwind").find_element(By.CSS_SELECTOR, "button.token-for").click()
    issue = browser.find_element(By.CSS_SELECTOR, "form.issue-token")
    assert issue.find_element(By.NAME, "tenant").get_attribute("value") == "northwind"
    issue.find_element(By.NAME, "admin").click()
    issue.find_element(By.CSS_SELECTOR, "button[type=submit]").click()
    token = css(browser, ".issued code.token").text
    assert token.count(".") == 2
    link = browser.find_element(By.CSS_SELECTOR, ".issued a.sign-in-as").get_attribute("href")
    assert unquote(link.split("#token=", 1)[1]) == token
    browser.find_element(By.CSS_SELECTOR, ".issued button.copy").click()
    # Copied, or (no clipboard permission in a headless browser) selected for a manual copy
    copied = until(browser, lambda d: d.find_element(By.CSS_SELECTOR, ".issued .copy-status").text)
    assert copied == "Copied." or browser.execute_script(
        "return getSelection().toString()") == token
    screenshot(browser, "tenants")
    # When it is suspended from its row, its status changes in the list
    tenant_row(browser, "northwind").find_element(By.CSS_SELECTOR, "button.set-suspended").click()
    until(browser, lambda d: row_status(d, "northwind") == "suspended")
    assert tenant_row(browser, "northwind").find_element(By.CSS_SELECTOR, "button.set-active")
    # And its token, opened by the link, signs in to its pages, which show the refusal
    browser.get(link)
    css(browser, "form.confirm-sign-in button.confirm").click()
    assert "northwind" in css(browser, "header.top .who").text
    refused = css(browser, ".list .error").text
    assert "suspended" in refused


def test_the_operator_is_not_offered_a_tenants_pages(browser, local) -> None:
    sign_in(browser, local, operator_token(local))
    browser.get(f"{local.api_url}/console/#/events")
    until(browser, lambda d: d.current_url.endswith("#/tenants"))
    css(browser, "table.tenants, .list .empty")
    assert not browser.find_elements(By.CSS_SELECTOR, "form.filters input[name=type]")


def test_a_tenant_token_is_not_offered_the_tenants_page(browser, local, tokens) -> None:
    sign_in(browser, local, tokens["admin"])
    browser.get(f"{local.api_url}/console/#/tenants")
    until(browser, lambda d: d.current_url.endswith("#/events"))
    nav = [a.text for a in browser.find_elements(By.CSS_SELECTOR, "header.top nav a")]
    assert "Tenants" not in nav and "Events" in nav
    assert not browser.find_elements(By.CSS_SELECTOR, "form.create input[name=id]")
