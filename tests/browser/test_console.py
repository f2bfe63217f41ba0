"""The console, as an operator uses it: sign in, watch deliveries, trace, replay, redrive."""

import httpx
import pytest
from selenium.common.exceptions import StaleElementReferenceException
from selenium.webdriver.common.by import By
from selenium.webdriver.remote.webdriver import WebDriver
from selenium.webdriver.support import expected_conditions as seen
from selenium.webdriver.support.ui import WebDriverWait

from tests.browser.conftest import screenshot
from tests.e2e.api.test_api_http import stepwire_token, subscribe
from tests.e2e.conftest import LocalProcess
from tests.support.receiver import Answer, Receiver

pytestmark = pytest.mark.browser
WAIT = 30


def until(driver: WebDriver, condition, timeout: float = WAIT):
    # The page re-renders as deliveries happen: an element found a moment ago may be replaced.
    return WebDriverWait(driver, timeout, poll_frequency=0.1,
                         ignored_exceptions=[StaleElementReferenceException]).until(condition)


def css(driver: WebDriver, selector: str):
    return until(driver, seen.visibility_of_element_located((By.CSS_SELECTOR, selector)))


def sign_in(driver: WebDriver, local: LocalProcess, token: str) -> None:
    driver.get(f"{local.api_url}/console")
    css(driver, "form.sign-in textarea").send_keys(token)
    driver.find_element(By.CSS_SELECTOR, "form.sign-in button").click()
    css(driver, "header.top nav")


def sign_in_from_link(driver: WebDriver, local: LocalProcess, token: str) -> None:
    """A `#token=` link asks whose tenant first: confirmed, the console opens."""
    driver.get(f"{local.api_url}/console/#token={token}")
    css(driver, "form.confirm-sign-in button.confirm").click()
    css(driver, "header.top nav")


def publish(api: httpx.Client, event_type: str, data: dict) -> str:
    accepted = api.post("/events", json={"type": event_type, "data": data})
    assert accepted.status_code == 202, accepted.text
    return accepted.json()["id"]


def row_status(driver: WebDriver, event_id: str) -> str | None:
    rows = driver.find_elements(By.CSS_SELECTOR, f'tr[data-event="{event_id}"] [data-status]')
    return rows[0].get_attribute("data-status") if rows else None


@pytest.fixture(scope="module")
def orders(api: httpx.Client, receiver: Receiver) -> str:
    return subscribe(api, receiver, "/orders", ["order.*"])


def test_a_published_event_appears_and_reaches_delivered_without_a_reload(
        browser, local, tokens, api, receiver, orders):
    # Given an operator signed in on the events page
    sign_in(browser, local, tokens["admin"])
    css(browser, "form.filters")
    # When an event is published through the API
    event_id = publish(api, "order.created", {"order": 7})
    # Then it appears in the list and reaches delivered while the page stays open
    until(browser, lambda d: row_status(d, event_id) == "delivered")
    assert receiver.wait_for("/orders", 1)[-1].verified
    screenshot(browser, "events")


def test_an_event_shows_its_attempts_and_path_and_replays(browser, local, tokens, api,
                                                          receiver, orders):
    # Given a delivered event
    before = len(receiver.requests.get("/orders", []))
    event_id = publish(api, "order.paid", {"order": 8})
    receiver.wait_for("/orders", before + 1)
    sign_in(browser, local, tokens["admin"])
    # When its page is opened from the list
    css(browser, f'tr[data-event="{event_id}"] a').click()
    selector = f'section[data-subscription="{orders}"]'
    css(browser, selector)

    def card(d):  # found afresh each time: the page re-renders the card as it updates
        return d.find_element(By.CSS_SELECTOR, selector)

    # Then the story shows the attempt and the path marks the states it went through
    until(browser, lambda d: "HTTP 200" in card(d).find_element(By.CSS_SELECTOR, "ol.story").text)
    until(browser, lambda d: card(d).find_elements(
        By.CSS_SELECTOR, 'g.visited[data-state="Delivered"]'))
    visited = until(browser, lambda d: {g.get_attribute("data-state") for g in
                                        card(d).find_elements(By.CSS_SELECTOR, "g.visited")})
    assert {"Deliver", "Delivered"} <= visited and "RecordFailure" not in visited
    screenshot(browser, "event")
    # When Replay is pressed, the page shows the second delivery as it happens
    until(browser, lambda d: card(d).find_element(By.CSS_SELECTOR, "button.replay")).click()
    until(browser, lambda d: d.find_element(
        By.CSS_SELECTOR, f'section[data-subscription="{orders}"] ol.story').text
        .count("HTTP 200") == 2)
    first, second = receiver.wait_for("/orders", before + 2)[-2:]
    assert first.headers["webhook-id"] == second.headers["webhook-id"]  # receivers dedupe
    assert "Replay started" in browser.find_element(By.CSS_SELECTOR, ".notice").text


def test_a_dead_letter_is_redriven_from_the_page(browser, local, tokens, api, receiver):
    # Given an endpoint that refuses deliveries (400: dead-lettered at once)
    subscription = subscribe(api, receiver, "/failing", ["invoice.*"])
    receiver.failing.set()
    event_id = publish(api, "invoice.issued", {"invoice": 3})
    sign_in(browser, local, tokens["admin"])
    browser.get(f"{local.api_url}/console/#/dead-letters")
    css(browser, f'tr[data-event="{event_id}"]')
    assert subscription in browser.find_element(By.CSS_SELECTOR,
                                                f'tr[data-event="{event_id}"]').text
    screenshot(browser, "dead-letters")
    # When the endpoint is fixed and the operator redrives from the page
    receiver.failing.clear()
    css(browser, "button.redrive").click()
    # Then the notification is started again, delivered, and leaves the list
    until(browser, lambda d: "Redriven: 1" in d.find_element(By.CSS_SELECTOR, ".notice").text)
    delivered = receiver.wait_for("/failing", 2)[-1]
    assert delivered.verified and delivered.payload["id"] == event_id
    until(browser, lambda d: not d.find_elements(By.CSS_SELECTOR, f'tr[data-event="{event_id}"]'))


def test_subscriptions_and_health_pages_show_the_deliveries(browser, local, tokens, orders):
    sign_in(browser, local, tokens["admin"])
    browser.get(f"{local.api_url}/console/#/subscriptions")
    row = css(browser, f'tr[data-subscription="{orders}"]')
    assert row.find_element(By.CSS_SELECTOR, "[data-status]").text == "active"
    assert row.find_elements(By.CSS_SELECTOR, "button.set-paused, button.rotate")
    screenshot(browser, "subscriptions")
    browser.get(f"{local.api_url}/console/#/health")
    tiles = css(browser, ".tiles")
    until(browser, lambda d: "delivered" in tiles.text)
    delivered = next(t for t in tiles.find_elements(By.CSS_SELECTOR, ".tile")
                     if t.find_element(By.CSS_SELECTOR, ".label").text == "delivered")
    assert int(delivered.find_element(By.CSS_SELECTOR, ".value").text) >= 3
    assert len(browser.find_elements(By.CSS_SELECTOR, "svg.chart")) == 5
    screenshot(browser, "health")


def test_a_reader_sees_no_replay_redrive_or_edit(browser, local, tokens, api, orders):
    event_id = publish(api, "order.shipped", {"order": 9})
    # Given a reader signed in through the URL
    sign_in_from_link(browser, local, tokens["reader"])
    assert "#token" not in browser.current_url  # the token does not stay in the address bar
    # When the event page has loaded
    browser.get(f"{local.api_url}/console/#/events/{event_id}")
    css(browser, f'section[data-subscription="{orders}"] ol.story')
    # Then nothing the reader may not do is offered
    assert not browser.find_elements(By.CSS_SELECTOR, "button.replay, button.replay-all")
    browser.get(f"{local.api_url}/console/#/dead-letters")
    css(browser, "form.filters")
    assert not browser.find_elements(By.CSS_SELECTOR, "button.redrive")
    browser.get(f"{local.api_url}/console/#/subscriptions")
    css(browser, f'tr[data-subscription="{orders}"]')
    assert not browser.find_elements(By.CSS_SELECTOR, "td.actions button, form.create")


def test_an_expired_token_goes_back_to_sign_in(browser, local):
    # Given a signed-in session whose token lives a few seconds (long enough for the page to
    # load on a busy machine: the session must begin signed in)
    ttl = 8
    short = stepwire_token(local, "shop", "reader", ttl=ttl)
    sign_in_from_link(browser, local, short)
    # When it expires, the console says so on the sign-in form
    alert = until(browser, seen.visibility_of_element_located(
        (By.CSS_SELECTOR, "main.narrow .error")), timeout=ttl + 20)
    assert "expired" in alert.text
    assert browser.find_element(By.CSS_SELECTOR, "form.sign-in")


def test_a_waiting_delivery_shows_when_its_next_attempt_is_due(browser, local, tokens, api):
    # Given an endpoint that asks for an hour each time (3.6 s at this runtime's time scale)
    with Receiver(lambda _request: Answer(status=503, headers={"Retry-After": "3600"})) as busy:
        subscription = subscribe(api, busy, "/busy", ["report.*"])
        event_id = publish(api, "report.ready", {"report": 1})
        busy.wait_for("/busy", 1)
        sign_in(browser, local, tokens["admin"])
        # When its page is opened while it waits
        browser.get(f"{local.api_url}/console/#/events/{event_id}")
        story = f'section[data-subscription="{subscription}"] ol.story'
        # Then its story ends with when the next attempt is due, and why
        said = until(browser, lambda d: next((li.text for li in d.find_elements(
            By.CSS_SELECTOR, f"{story} li.next")), None))
        assert "Next attempt due" in said and "the receiver's Retry-After" in said
        screenshot(browser, "next-attempt")
