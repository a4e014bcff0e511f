// A terminal-style console: the instance's journal (the last hour, then live over its own
// stream) and a command box with a history (arrow keys) kept in this browser.

import { api, BASE, can } from "./api.js";
import { alertError, h } from "./dom.js";

const KEEP = 1000; // lines on screen: older ones go, so a long session does not grow
const HISTORY = 50;

function timeOf(ts) { return ts ? new Date(ts * 1000).toLocaleTimeString() : ""; }

export async function render(panel, ctx) {
  const screen = h("div", { class: "terminal", role: "log", "aria-live": "polite", "aria-label": "Console output", tabindex: "0" });
  const input = h("input", { class: "command", name: "command", autocomplete: "off", spellcheck: "false", placeholder: "A console command, e.g. say hello", "aria-label": "Console command", disabled: true });
  const send = h("button", { type: "submit", class: "primary", disabled: true }, "Send");
  const state = h("span", { class: "muted", role: "status" }, "connecting…");
  const form = h("form", { class: "console-form" }, h("span", { class: "prompt", "aria-hidden": "true" }, ">"), input, send);
  panel.replaceChildren(h("div", { class: "console-head" }, h("h2", { text: "Console" }), state), screen, can("operate") ? form : null);
  const seen = new Set();
  const add = (text, kind, ts, cursor) => {
    if (cursor) { if (seen.has(cursor)) return; seen.add(cursor); }
    const atBottom = screen.scrollHeight - screen.scrollTop - screen.clientHeight < 40;
    screen.append(h("div", { class: `line ${kind || ""}` }, h("time", { text: timeOf(ts) }), h("span", { text })));
    while (screen.childElementCount > KEEP) {
      screen.firstChild.remove();
    }
    if (seen.size > 4 * KEEP) seen.clear();
    if (atBottom) screen.scrollTop = screen.scrollHeight;
  };
  const past = await api("GET", `/instances/${ctx.id}/logs?since=1h&lines=200`);
  for (const l of past.lines) add(l.message, l.priority !== null && l.priority <= 3 ? "err" : "", l.ts, l.cursor);
  if (!past.lines.length) add("No journal lines in the last hour.", "muted");
  const source = new EventSource(`${BASE}/instances/${ctx.id}/logs/stream`);
  source.onopen = () => { state.textContent = "live"; input.disabled = send.disabled = false; };
  source.onerror = () => { state.textContent = "reconnecting…"; };
  source.addEventListener("log", (e) => { const l = JSON.parse(e.data); add(l.message, l.priority !== null && l.priority <= 3 ? "err" : "", l.ts, l.cursor); });
  source.addEventListener("end", (e) => { source.close(); state.textContent = `ended: ${JSON.parse(e.data).error}`; });
  addEventListener("pagehide", () => source.close());

  const key = `warlock-history-${ctx.id}`;
  let history = JSON.parse(localStorage.getItem(key) || "[]");
  let at = history.length;
  input.addEventListener("keydown", (e) => {
    if (e.key === "ArrowUp" && at > 0) { at--; input.value = history[at]; e.preventDefault(); }
    else if (e.key === "ArrowDown") { at = Math.min(history.length, at + 1); input.value = history[at] || ""; e.preventDefault(); }
  });
  form.addEventListener("submit", async (e) => {
    e.preventDefault();
    const command = input.value.trim();
    if (!command) return;
    history = [...history.filter((c) => c !== command), command].slice(-HISTORY);
    localStorage.setItem(key, JSON.stringify(history));
    at = history.length;
    input.value = "";
    add(`> ${command}`, "sent", Date.now() / 1000);
    try {
      const done = await api("POST", `/instances/${ctx.id}/console`, { command });
      if (done.data !== null && done.data !== undefined && done.data !== "") {
        add(typeof done.data === "string" ? done.data : JSON.stringify(done.data), "reply", Date.now() / 1000);
      }
    } catch (err) {
      add(`error: ${err.message}${err.hint ? ` (hint: ${err.hint})` : ""}`, "err", Date.now() / 1000);
      alertError(err);
    }
  });
}
