"""Headless Chromium driven by Selenium (Debian's python3-selenium and chromedriver) against
warlockd's dashboard, for bench/dashboard.py. The app's scripts are not touched: the probe
below is injected before any of the page's scripts runs (CDP
`Page.addScriptToEvaluateOnNewDocument`, which the page's Content-Security-Policy does not
apply to). It records, in `window.__bench`:

- `rowsDomMs`: performance.now() (milliseconds since navigation start) when the overview's
  table (#instances tbody) first holds N rows, seen by a MutationObserver;
- `rowsDrawnMs`: the same after the next animation frame and a task after it, i.e. once the
  frame that shows those rows has been produced;
- `events`: how many live events of each kind the page's EventSource received (the probe
  subclasses window.EventSource to count them; the page's own listeners are unchanged).

Bytes come from Chrome's performance log (the DevTools Network events chromedriver
records): per response `Network.loadingFinished.encodedDataLength`, the bytes on the wire
with headers and gzip as sent; for the event stream, which never finishes, its headers and
`Network.dataReceived` chunks.
"""

from __future__ import annotations

import json
import time
from typing import Any
from urllib.parse import urlsplit

from selenium import webdriver
from selenium.webdriver.chrome.options import Options
from selenium.webdriver.chrome.service import Service
from selenium.webdriver.common.by import By
from selenium.webdriver.support.wait import WebDriverWait

from bench.dashboard_report import Load, Transfer

CHROMIUM = "/usr/bin/chromium"
CHROMEDRIVER = "/usr/bin/chromedriver"
ARGS = ("--headless=new", "--no-sandbox", "--disable-dev-shm-usage", "--window-size=1280,900")
KINDS = ("state", "removed", "sample", "event", "operation", "host", "reset", "end")

PROBE = """
(() => {
  const want = %(n)d;
  const b = window.__bench = { rowsDomMs: null, rowsDrawnMs: null, events: {} };
  const Native = window.EventSource;
  if (Native) {
    window.EventSource = class extends Native {
      constructor(...args) {
        super(...args);
        for (const kind of %(kinds)s) {
          this.addEventListener(kind, () => { b.events[kind] = (b.events[kind] || 0) + 1; });
        }
      }
    };
  }
  const seen = () => {
    const table = document.getElementById("instances");
    const body = table && table.tBodies[0];
    if (!body || body.rows.length < want || b.rowsDomMs !== null) return;
    b.rowsDomMs = performance.now();
    observer.disconnect();
    requestAnimationFrame(() => setTimeout(() => { b.rowsDrawnMs = performance.now(); }, 0));
  };
  const observer = new MutationObserver(seen);
  observer.observe(document, { childList: true, subtree: true });
})();
"""


def js(driver: webdriver.Chrome, script: str) -> Any:
    """Run `script` in the page (selenium 4.8's execute_script is untyped)."""
    return driver.execute_script(script)  # type: ignore[no-untyped-call]


def drain(driver: webdriver.Chrome) -> list[dict[str, Any]]:
    """The performance log's entries since it was last read."""
    entries: list[dict[str, Any]] = driver.get_log("performance")  # type: ignore[no-untyped-call]
    return entries


def browser(perf_log: bool) -> webdriver.Chrome:
    """Headless Chromium with a fresh profile; with `perf_log`, DevTools network events."""
    options = Options()
    options.binary_location = CHROMIUM
    for arg in ARGS:
        options.add_argument(arg)  # type: ignore[no-untyped-call]
    if perf_log:
        options.set_capability("goog:loggingPrefs", {"performance": "ALL"})
    return webdriver.Chrome(service=Service(CHROMEDRIVER), options=options)


def probe(driver: webdriver.Chrome, rows: int) -> None:
    """Inject the probe into every document this tab loads from now on."""
    source = PROBE % {"n": rows, "kinds": json.dumps(list(KINDS))}
    driver.execute_cdp_cmd("Page.addScriptToEvaluateOnNewDocument", {"source": source})


def login(driver: webdriver.Chrome, base: str, user: str, password: str) -> None:
    """Log in through the page's own form (login.js), which then goes to the overview."""
    driver.get(f"{base}/login")
    wait = WebDriverWait(driver, 30)
    name = wait.until(lambda d: d.find_element(By.CSS_SELECTOR, "form.login input[name=name]"))
    name.send_keys(user)
    driver.find_element(By.CSS_SELECTOR, "form.login input[name=password]").send_keys(password)
    driver.find_element(By.CSS_SELECTOR, "form.login button[type=submit]").click()
    wait.until(lambda d: urlsplit(d.current_url).path == "/")


def fresh_tab(driver: webdriver.Chrome) -> None:
    """Go on in a new tab (same profile, so the same session cookie) and close the old one.
    Chromium's back/forward cache keeps the pages a tab left (the login page) alive, in the
    same renderer, for up to 600 s: their DOM and JS heap would count in the metrics."""
    old = driver.current_window_handle
    driver.switch_to.new_window("tab")
    new = driver.current_window_handle
    driver.switch_to.window(old)
    driver.close()
    driver.switch_to.window(new)


def page_state(driver: webdriver.Chrome) -> dict[str, Any]:
    state: dict[str, Any] = js(
        driver,
        "const b = window.__bench || {};"
        "const body = document.querySelector('#instances tbody');"
        "const live = document.getElementById('live');"
        "return {rowsDomMs: b.rowsDomMs ?? null, rowsDrawnMs: b.rowsDrawnMs ?? null,"
        " events: b.events || {}, rows: body ? body.rows.length : 0,"
        " live: live ? live.textContent : '', timeOrigin: performance.timeOrigin,"
        " alerts: document.getElementById('alerts')?.textContent || '',"
        " elements: document.getElementsByTagName('*').length};",
    )
    return state


def wait_rows(driver: webdriver.Chrome, timeout: float = 60) -> dict[str, Any]:
    """Until the probe has seen every row drawn; the page's state then."""
    deadline = time.monotonic() + timeout
    while True:
        state = page_state(driver)
        if state["rowsDrawnMs"] is not None:
            return state
        if time.monotonic() > deadline:
            raise TimeoutError(f"the overview did not draw every row in {timeout:g} s: {state}")
        time.sleep(0.05)


def settle(driver: webdriver.Chrome, quiet: float = 1.0, timeout: float = 15) -> None:
    """Until no new resource has been fetched for `quiet` seconds (the event stream aside,
    which stays open): the page's follow-up requests (schedules, host) are done."""
    deadline = time.monotonic() + timeout
    count, since = -1, time.monotonic()
    while time.monotonic() < deadline:
        now_count = js(driver, "return performance.getEntriesByType('resource').length")
        if now_count != count:
            count, since = now_count, time.monotonic()
        elif time.monotonic() - since >= quiet:
            return
        time.sleep(0.1)


def transfers(driver: webdriver.Chrome) -> list[Transfer]:
    """The http(s) requests in the performance log since it was last read (and drains it)."""
    seen: dict[str, Transfer] = {}
    for entry in drain(driver):
        message = json.loads(entry["message"])["message"]
        method, p = message.get("method", ""), message.get("params", {})
        rid = p.get("requestId")
        if method == "Network.requestWillBeSent":
            seen.setdefault(rid, Transfer(p["request"]["url"]))
        elif rid not in seen:
            continue
        elif method == "Network.responseReceived":
            r, t = p["response"], seen[rid]
            t.status, t.header_bytes = int(r.get("status", 0)), int(r.get("encodedDataLength", 0))
            t.cached |= bool(r.get("fromDiskCache") or r.get("fromPrefetchCache"))
            t.cached |= t.status == 304
        elif method == "Network.requestServedFromCache":
            seen[rid].cached = True
        elif method == "Network.dataReceived":
            seen[rid].streamed += int(p.get("encodedDataLength", 0))
        elif method == "Network.loadingFinished":
            seen[rid].total = int(p.get("encodedDataLength", 0))
    return [t for t in seen.values() if t.url.startswith(("http:", "https:"))]


def blank(driver: webdriver.Chrome, clear_cache: bool) -> None:
    """Leave the page (its stream closes), optionally empty the HTTP cache, drain the log."""
    driver.get("about:blank")
    if clear_cache:
        driver.execute_cdp_cmd("Network.clearBrowserCache", {})
    drain(driver)


def overview_load(driver: webdriver.Chrome, base: str, cold: bool) -> Load:
    """Navigate to / (cold: with an empty cache) and time it until every row is drawn."""
    blank(driver, cold)
    driver.get(f"{base}/")
    state = wait_rows(driver)
    settle(driver)
    done, dom = float(state["rowsDrawnMs"]), float(state["rowsDomMs"])
    return Load(transfers(driver), done, dom, timeline(driver))


def timeline(driver: webdriver.Chrome) -> list[tuple[str, float, float]]:
    """(path, start, end) in ms since navigation start: the document, then each resource."""
    found = js(
        driver,
        "const nav = performance.getEntriesByType('navigation')[0];"
        "const path = (u) => { const x = new URL(u); return x.pathname + x.search; };"
        "return [[location.pathname, nav.startTime, nav.responseEnd],"
        " ...performance.getEntriesByType('resource')"
        "   .map((e) => [path(e.name), e.startTime, e.responseEnd])];",
    )
    return [(str(p), float(a), float(z)) for p, a, z in found]


def statuses(driver: webdriver.Chrome) -> dict[str, str]:
    """Each row's instance id and the status it shows."""
    shown: dict[str, str] = js(
        driver,
        "return Object.fromEntries([...document.querySelectorAll('#instances tbody tr')]"
        ".map((tr) => [tr.dataset.id, tr.dataset.status]));",
    )
    return shown


def json_load(driver: webdriver.Chrome, base: str) -> Load:
    """The baseline: the same browser loading GET /api/v1/instances as a document, cold."""
    blank(driver, True)
    driver.get(f"{base}/api/v1/instances")
    end = 0.0
    deadline = time.monotonic() + 30
    while end <= 0 and time.monotonic() < deadline:
        end = float(
            js(
                driver,
                "const n = performance.getEntriesByType('navigation')[0];"
                "return n ? n.loadEventEnd : 0;",
            )
        )
        time.sleep(0.02)
    settle(driver, quiet=0.5)
    document = [t for t in transfers(driver) if t.path == "/api/v1/instances"]  # no favicon
    return Load(document, end, end)


def memory(driver: webdriver.Chrome) -> dict[str, Any]:
    """After a forced garbage collection: the renderer's metrics (JSHeapUsedSize, Nodes,
    JSEventListeners, ...) and the page's state (rows, live events counted)."""
    for _ in range(2):
        driver.execute_cdp_cmd("HeapProfiler.collectGarbage", {})
    found = driver.execute_cdp_cmd("Performance.getMetrics", {})
    metrics = {m["name"]: float(m["value"]) for m in found["metrics"]}
    return {"metrics": metrics, "page": page_state(driver)}
