"""The web dashboard in a real browser: headless Chromium driven by Selenium (both from
Debian) on the host, warlockd on a real systemd in the container (which shares the host's
network). A person's path through it: log in, see the instances, start one and watch it
turn running without a reload, send a console command and read its output, change a
setting, make a backup, log out. Screenshots of the pages are kept in build/screenshots/
as the run's artifacts (look at them: a test cannot tell whether a page is readable)."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from selenium import webdriver
from selenium.common.exceptions import WebDriverException
from selenium.webdriver.chrome.service import Service
from selenium.webdriver.common.action_chains import ActionChains
from selenium.webdriver.common.by import By
from selenium.webdriver.common.keys import Keys
from selenium.webdriver.remote.webdriver import WebDriver
from selenium.webdriver.remote.webelement import WebElement
from selenium.webdriver.support.select import Select

from tests.harness.container import SystemdContainer, free_port, wait_for
from tests.integration.test_instances import MANAGE, REPO, manage

SHOTS = REPO / "build" / "screenshots"
CHROMEDRIVER = Path("/usr/bin/chromedriver")
PASSWORD = "correct horse battery staple"


class Site:
    """warlockd in the container with one user and one example instance, and its URL."""

    def __init__(self, ct: SystemdContainer, port: int) -> None:
        self.ct, self.url = ct, f"http://127.0.0.1:{port}"
        said = manage(ct, "setup")  # its last words: where the dashboard is, how to get in
        assert f"dashboard: http://127.0.0.1:{port}/" in said.stdout + said.stderr, said
        assert "warlock user add --name NAME" in said.stdout + said.stderr
        wait_for(self._answers, timeout=30, message="the dashboard answering")
        ct.run([*MANAGE, "user", "add", "--name", "ada", "--scope", "admin"],
               input=PASSWORD + "\n")  # fmt: skip
        made = json.loads(manage(ct, "--create", "--app", "example", "--name", "Harbour").stdout)
        self.iid: str = made["id"]

    def _answers(self) -> bool:
        try:
            return httpx.get(self.url + "/login", timeout=2).status_code == 200
        except httpx.HTTPError:
            return False

    def cli(self, *args: str) -> Any:
        return json.loads(manage(self.ct, "--instance", self.iid, *args).stdout)


@pytest.fixture(scope="module")
def site(systemd_available: None) -> Iterator[Site]:
    if not CHROMEDRIVER.exists():
        pytest.skip("chromium-driver (Debian) is not installed")
    with SystemdContainer() as ct:
        port = free_port()
        ct.run(["mkdir", "-p", "/etc/warlock"])
        ct.run(["sh", "-c", f"printf 'interval = 1\\n\\n[api]\\nport = {port}\\n' "
                "> /etc/warlock/warlockd.toml"])  # fmt: skip
        yield Site(ct, port)


def _browser(width: int = 1280, height: int = 900) -> WebDriver:
    options = webdriver.ChromeOptions()
    for arg in ("--headless=new", "--no-sandbox", "--disable-dev-shm-usage",
                f"--window-size={width},{height}", "--lang=en-GB"):  # fmt: skip
        options.add_argument(arg)
    options.set_capability("goog:loggingPrefs", {"browser": "ALL"})
    return webdriver.Chrome(service=Service(str(CHROMEDRIVER)), options=options)


@pytest.fixture
def browser() -> Iterator[WebDriver]:
    driver = _browser()
    try:
        yield driver
    finally:
        driver.quit()


def shot(driver: WebDriver, name: str) -> Path:
    SHOTS.mkdir(parents=True, exist_ok=True)
    path = SHOTS / f"{name}.png"
    assert driver.save_screenshot(str(path)), f"no screenshot {path}"
    assert path.stat().st_size > 10_000, f"{path} is nearly empty"  # a blank page is ~5 KB
    return path


def until(driver: WebDriver, check: Any, timeout: float = 30, message: str = "") -> Any:
    def attempt() -> Any:
        try:
            return check()
        except WebDriverException:
            return None

    return wait_for(attempt, timeout=timeout, interval=0.2, message=message or repr(check))


def find(driver: WebDriver, css: str) -> WebElement:
    return driver.find_element(By.CSS_SELECTOR, css)


def errors_in_console(driver: WebDriver) -> list[str]:
    """Script errors the page logged (a 401 on purpose is a network line, not SEVERE js)."""
    logs: list[dict[str, Any]] = driver.get_log("browser")
    return [
        x["message"] for x in logs if x["level"] == "SEVERE" and x.get("source") not in ("network",)
    ]


def log_in(driver: WebDriver, site: Site, then: str = "/") -> None:
    driver.get(f"{site.url}/login?next={then}")
    until(driver, lambda: find(driver, "input[name=name]"), message="the login form")
    find(driver, "input[name=name]").send_keys("ada")
    find(driver, "input[name=password]").send_keys(PASSWORD + Keys.ENTER)
    until(driver, lambda: find(driver, "#who").text.startswith("user:ada"), message="logged in")


def test_a_person_drives_an_instance_from_the_browser(site: Site, browser: WebDriver) -> None:
    d, iid = browser, site.iid

    # the login page, and a wrong password said in words
    d.get(site.url + "/")
    until(d, lambda: "/login" in d.current_url, message="sent to the login page")
    until(d, lambda: find(d, "input[name=name]"))
    shot(d, "01-login")
    find(d, "input[name=name]").send_keys("ada")
    find(d, "input[name=password]").send_keys("wrong" + Keys.ENTER)
    refused = until(d, lambda: find(d, "form.login .error").text, message="a refusal")
    assert "password" in refused.lower() or "invalid" in refused.lower(), refused

    # the overview lists the instance, stopped
    log_in(d, site)
    row = until(d, lambda: find(d, f"tr[data-id='{iid}']"), message="the instance's row")
    assert row.get_attribute("data-status") == "stopped"
    assert "Harbour" in row.text and "example" in row.text.lower()
    assert find(d, "#live").text.endswith("live")

    # start: the row turns running from the stream, without a reload
    d.execute_script("window.__sameDocument = true")
    row.find_element(By.CSS_SELECTOR, "button[data-verb=start]").click()
    try:
        until(d, lambda: find(d, f"tr[data-id='{iid}']").get_attribute("data-status") == "running",
              timeout=60, message="the row turning running")  # fmt: skip
    except TimeoutError as e:
        unit = site.ct.systemctl("status", f"game@{iid}.service", "--no-pager").stdout
        raise AssertionError(
            f"{e}\nalerts: {find(d, '#alerts').text!r}; live: {find(d, '#live').text!r}; "
            f"row: {find(d, f'tr[data-id={chr(39)}{iid}{chr(39)}]').text!r}\n"
            f"browser: {d.get_log('browser')}\n{unit}"
        ) from e
    assert d.execute_script("return window.__sameDocument === true"), "the page reloaded"
    assert manage(site.ct, "--instance", iid, "is-running", check=False).returncode == 0
    assert site.ct.systemctl("is-active", f"game@{iid}.service").stdout.strip() == "active"

    # the console: the journal live, a command whose output appears, the history on ArrowUp
    d.get(f"{site.url}/instances/{iid}#console")
    box = until(d, lambda: _enabled(find(d, "input.command")), message="the console ready")
    box.send_keys("join 3" + Keys.ENTER)
    box.send_keys("say hello from the browser" + Keys.ENTER)
    until(d, lambda: "say: hello from the browser" in find(d, ".terminal").text, timeout=20,
          message="the command's output in the console")  # fmt: skip
    box.send_keys(Keys.ARROW_UP)
    assert box.get_attribute("value") == "say hello from the browser"
    box.clear()
    until(d, lambda: find(d, "[data-fact=Players]").text == "3/16", timeout=20,
          message="3 players in the header from the samples")  # fmt: skip
    shot(d, "03-console")

    # a setting: the select from the manifest's allowed values, Ctrl+S saves it
    find(d, "#tab-settings").click()
    select = until(d, lambda: find(d, "select[name='Map']"), message="the settings form")
    choices = [o.get_attribute("value") for o in Select(select).options]
    assert choices == ["example", "arena", "island"], choices
    Select(select).select_by_value("arena")
    find(d, "body").send_keys(Keys.CONTROL, "s")
    until(d, lambda: "Restart needed" in find(d, ".settings [role=status]").text,
          message="saved, restart needed")  # fmt: skip
    assert not find(d, ".restart-needed").get_attribute("hidden")
    shot(d, "04-settings")
    configs = {c["option"]: c["value"] for c in site.cli("get-configs")}
    assert configs["Map"] == "arena", configs
    # a value out of range is refused in words, and nothing is written
    ticks = find(d, "input[name='Tick Rate']")
    ticks.clear()
    ticks.send_keys("100000")
    find(d, ".settings button[type=submit]").click()
    until(d, lambda: find(d, "#alerts .alert"), message="the refusal in words")
    assert {c["option"]: c["value"] for c in site.cli("get-configs")}["Tick Rate"] != 100000

    # a backup, made from the page; it is listed there and by the CLI
    find(d, "#tab-backups").click()
    until(d, lambda: find(d, "#panel-backups button.primary")).click()
    until(d, lambda: "local" in find(d, "#panel-backups tbody").text, timeout=120,
          message="the backup listed")  # fmt: skip
    listed = site.cli("backups", "--json")
    assert [b for b in listed if b["where"] == "local"], listed
    shot(d, "05-backups")

    # a schedule: a timer systemd runs, its next run shown; a calendar systemd refuses, said
    find(d, "#tab-schedules").click()
    when = until(d, lambda: find(d, "#panel-schedules input[name=on_calendar]"))
    when.clear()
    when.send_keys("every tuesday noonish" + Keys.ENTER)
    until(d, lambda: "calendar" in find(d, "#alerts").text.lower(), message="the refusal")
    when.clear()
    when.send_keys("*-*-* 04:30")
    find(d, "#panel-schedules input[name=keep]").send_keys("3")
    find(d, "#panel-schedules form button[type=submit]").click()
    until(d, lambda: "keep 3" in find(d, "#panel-schedules tbody").text, message="listed")
    assert "04:30" in find(d, "#panel-schedules tbody").text
    (sched,) = site.cli("schedule-list", "--json")
    timer = site.ct.systemctl("is-active", sched["timer"]).stdout.strip()
    assert timer == "active", sched
    shot(d, "06-schedules")

    # the charts after a few samples; the screenshots of the pages as they are now
    find(d, "#tab-charts").click()
    until(d, lambda: d.execute_script(
        "const cs = [...document.querySelectorAll('canvas')].map((c) => Chart.getChart(c));"
        "return cs.length === 3 && cs.every((c) => c.data.datasets[0].data.length >= 3)"),
        timeout=30, message="three charts, each with the samples so far")  # fmt: skip
    shot(d, "07-instance-charts")
    d.get(site.url + "/")
    until(d, lambda: find(d, f"tr[data-id='{iid}']").get_attribute("data-status") == "running")
    until(d, lambda: "3/" in find(d, ".totals").text, message="players in the totals")
    shot(d, "02-overview")
    d.set_window_size(390, 844)  # a phone: the rows become cards
    d.execute_script("arguments[0].scrollIntoView()", find(d, f"tr[data-id='{iid}']"))
    shot(d, "08-overview-phone")
    d.set_window_size(1280, 900)
    assert errors_in_console(d) == []

    # usable by people: every text on the page readable (WCAG AA, 4.5:1), and the row's
    # actions reachable with the keyboard alone
    assert d.execute_script(CONTRAST) == []
    find(d, "body").click()
    for _ in range(60):
        ActionChains(d).send_keys(Keys.TAB).perform()
        if d.execute_script("return document.activeElement.dataset.verb") == "stop":
            break
    else:
        raise AssertionError("Tab never reached the row's Stop button")

    # logout ends the session: the cookie no longer opens the API
    cookie = d.get_cookie("warlock_session") or next(
        (c for c in d.get_cookies() if "session" in c["name"]), None
    )
    assert cookie and cookie["httpOnly"], d.get_cookies()
    find(d, "#logout").click()
    until(d, lambda: "/login" in d.current_url, message="back at the login page")
    after = httpx.get(site.url + "/api/v1/session", cookies={cookie["name"]: cookie["value"]})
    assert after.status_code == 401, after.text


# The text elements of <main> whose colour on their background is under 4.5:1, by the
# WCAG formula (relative luminance of sRGB); a translucent background counts as its parent's.
CONTRAST = """
const lum = (c) => {
  const [r, g, b] = c.match(/[\\d.]+/g).slice(0, 3).map(Number).map((v) => {
    v /= 255; return v <= 0.03928 ? v / 12.92 : ((v + 0.055) / 1.055) ** 2.4; });
  return 0.2126 * r + 0.7152 * g + 0.0722 * b;
};
const solid = (c) => !/^rgba\\(.*,\\s*0(\\.\\d+)?\\)$/.test(c) && c !== "transparent";
const under = (el) => {
  for (; el; el = el.parentElement) {
    const c = getComputedStyle(el).backgroundColor;
    if (solid(c)) return c;
  }
  return "rgb(255, 255, 255)";
};
const low = [];
for (const el of document.querySelectorAll("main *")) {
  const own = [...el.childNodes].some((n) => n.nodeType === 3 && n.textContent.trim());
  if (!own || el.offsetParent === null) continue;
  const a = lum(getComputedStyle(el).color), b = lum(under(el));
  const ratio = (Math.max(a, b) + 0.05) / (Math.min(a, b) + 0.05);
  const what = `${el.tagName}.${el.className} "${el.textContent.slice(0, 30)}"`;
  if (ratio < 4.5) low.push(`${what} ${ratio.toFixed(2)}`);
}
return low;
"""


def _enabled(el: WebElement) -> WebElement | None:
    return el if el.is_enabled() else None


def test_create_a_key_and_delete_from_the_pages(site: Site, browser: WebDriver) -> None:
    d = browser
    log_in(d, site, then="/new")
    used = {int(p["value"]) for p in json.loads(manage(site.ct, "get-ports").stdout)}

    # a new instance: the game from the manifests, the free ports shown before creating
    until(d, lambda: find(d, "select[name=app] option[value=example]"), message="the games")
    Select(find(d, "select[name=app]")).select_by_value("example")
    port = until(d, lambda: find(d, "input[name='port:game']").get_attribute("value"),
                 message="the ports a create would get")  # fmt: skip
    assert port and int(port) not in used, (port, used)
    find(d, "input[name=name]").send_keys("Lighthouse")
    shot(d, "09-new-instance")
    find(d, "form.create button[type=submit]").click()
    until(d, lambda: "/instances/" in d.current_url, timeout=120, message="the new page")
    new = d.current_url.rsplit("/", 1)[1].split("#")[0]
    until(d, lambda: find(d, ".instance-head h1").text == "Lighthouse")
    listed = json.loads(manage(site.ct, "list", "--json").stdout)
    assert any(x["id"] == new and x["name"] == "Lighthouse" for x in listed), listed

    # a clone from the page: a name asked (the copy's suggested), the operation followed
    clone = next(b for b in d.find_elements(By.CSS_SELECTOR, ".instance-head button")
                 if b.text == "Clone")  # fmt: skip
    clone.click()
    named = until(d, lambda: find(d, "dialog input[name=name]"), message="the clone dialog")
    assert named.get_attribute("value") == "Lighthouse (copy)"
    find(d, "dialog button[type=submit]").click()
    until(d, lambda: new not in d.current_url, timeout=120, message="the copy's page")
    copy = d.current_url.rsplit("/", 1)[1].split("#")[0]
    until(d, lambda: find(d, ".instance-head h1").text == "Lighthouse (copy)")
    rows = {x["id"]: x for x in json.loads(manage(site.ct, "list", "--json").stdout)}
    assert rows[copy]["app"] == rows[new]["app"] and rows[copy]["ports"] != rows[new]["ports"], rows
    d.get(f"{site.url}/instances/{new}")
    until(d, lambda: find(d, ".instance-head h1").text == "Lighthouse")

    # a change without the session's CSRF token is refused, even from the page's own origin
    status = d.execute_async_script(
        "const done = arguments[arguments.length - 1];"
        f"fetch('/api/v1/instances/{new}/start', {{method: 'POST', credentials: 'same-origin'}})"
        ".then((r) => done(r.status))"
    )
    assert status == 403, status
    assert site.ct.systemctl("is-active", f"game@{new}.service").stdout.strip() != "active"

    # delete asks for the instance's name: a wrong one deletes nothing
    find(d, ".instance-head button.danger").click()
    until(d, lambda: find(d, "dialog input[name=typed]")).send_keys("Lighthous")
    find(d, "dialog button[type=submit]").click()
    until(d, lambda: "does not match" in find(d, "#alerts").text, message="the mismatch said")
    assert manage(site.ct, "--instance", new, "--status", check=False).returncode == 0
    find(d, ".instance-head button.danger").click()
    until(d, lambda: find(d, "dialog input[name=typed]")).send_keys("Lighthouse")
    find(d, "dialog input[name=purge]").click()
    find(d, "dialog button[type=submit]").click()
    until(d, lambda: d.current_url.rstrip("/") == site.url, message="back at the overview")
    until(d, lambda: not d.find_elements(By.CSS_SELECTOR, f"tr[data-id='{new}']"))
    assert manage(site.ct, "--instance", new, "--status", check=False).returncode != 0

    # an API key made on the admin page is shown once, and listed (hashed) by the CLI
    d.get(site.url + "/admin")
    until(d, lambda: find(d, "#keys-h"))
    key_form = find(d, "section[aria-labelledby=keys-h] form")
    key_form.find_element(By.CSS_SELECTOR, "input[name=name]").send_keys("panel")
    key_form.find_element(By.CSS_SELECTOR, "button[type=submit]").click()
    key = until(d, lambda: find(d, ".secret code.key").text, message="the key shown once")
    shot(d, "10-admin")
    keys = json.loads(manage(site.ct, "api-key", "list").stdout)
    assert any(k["name"] == "panel" for k in keys) and key not in json.dumps(keys)
    answer = httpx.get(site.url + "/api/v1/instances", headers={"Authorization": f"Bearer {key}"})
    assert answer.status_code == 200 and site.iid in answer.text
    d.refresh()
    until(d, lambda: find(d, "#keys-h"))
    assert key not in d.page_source  # shown once only
    assert errors_in_console(d) == []
