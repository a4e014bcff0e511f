// The overview: every instance as a row (a card on a phone), crashed first, with quick
// start/stop/restart; totals of the host; the top resource consumers. Drawn once from the
// listing, then kept current by the live stream: rows are updated in place, never redrawn.

import { api, can } from "./api.js";
import { connect, on, ready } from "./live.js";
import { alertError, bytes, duration, h, percent, players, ports, setText, when } from "./dom.js";

const ORDER = { crashed: 0, starting: 1, stopping: 1, running: 2, stopped: 3 };
const COLUMNS = ["Status", "Name", "Game", "Players", "CPU", "Memory", "Uptime", "Ports", "Next schedule"];
const rows = new Map(); // id -> { data, tr, cells, started }
let nextRuns = new Map(); // id -> the soonest next run of its schedules
let body, totals, tops, empty, filter;
let pending = null;

export async function render(main) {
  connect("kinds=state,removed,sample,host,event");
  totals = h("section", { class: "totals", "aria-label": "Totals" });
  tops = h("section", { class: "tops", "aria-label": "Top resource consumers" });
  filter = h("input", { type: "search", placeholder: "Filter by name, game or id", "aria-label": "Filter instances", oninput: applyFilter });
  body = h("tbody");
  const head = h("tr", {}, COLUMNS.map((c) => h("th", { scope: "col", text: c })), can("operate") ? h("th", { scope: "col", text: "Actions" }) : null);
  empty = h("p", { class: "empty", hidden: true });
  main.replaceChildren(
    h("h1", { text: "Instances" }), totals, tops,
    h("div", { class: "toolbar" }, filter, can("admin") ? h("a", { class: "button primary", href: "/new" }, "New instance") : null),
    empty,
    h("table", { class: "instances", id: "instances" }, h("thead", {}, head), body));
  const [list, host] = await Promise.all([api("GET", "/instances"), api("GET", "/host").catch(() => null)]);
  for (const r of list) upsert(r);
  arrange();
  showHost(host);
  loadSchedules();
  on("state", (r) => { upsert(r); arrange(); later(); });
  on("removed", (d) => { const row = rows.get(d.instance_id); if (row) { row.tr.remove(); rows.delete(d.instance_id); } arrange(); later(); });
  on("sample", sampled);
  on("host", showHost);
  on("event", (ev) => { if (ev.kind === "schedule" || (ev.kind === "api" && ev.message.includes("/schedules"))) loadSchedulesSoon(); });
  on("reset", () => location.reload());
  ready();
  summarize();
  setInterval(tick, 1000);
}

function cell(label, ...content) { return h("td", { "data-label": label }, ...content); }

function actionButton(id, verb, label) {
  return h("button", { type: "button", class: `small ${verb}`, "data-verb": verb, onclick: (e) => act(e.currentTarget, id, verb) }, label);
}

async function act(button, id, verb) {
  button.disabled = true;
  try {
    await api("POST", `/instances/${id}/${verb}`);
  } catch (e) {
    alertError(e);
  } finally {
    button.disabled = false;
  }
}

function make(r) {
  const dot = h("span", { class: "dot", "aria-hidden": "true" });
  const word = h("span", { class: "state" });
  const cells = {
    status: cell("Status", dot, word), name: cell("Name", h("a", { href: `/instances/${r.id}` })),
    app: cell("Game"), players: cell("Players"), cpu: cell("CPU"), memory: cell("Memory"),
    uptime: cell("Uptime"), ports: cell("Ports"), next: cell("Next schedule"),
  };
  const tr = h("tr", { "data-id": r.id }, Object.values(cells));
  if (can("operate")) {
    cells.actions = cell("Actions", h("span", { class: "actions" },
      actionButton(r.id, "start", "Start"), actionButton(r.id, "stop", "Stop"), actionButton(r.id, "restart", "Restart")));
    tr.append(cells.actions);
  }
  return { tr, cells, word, data: {}, started: null };
}

function upsert(r) {
  let row = rows.get(r.id);
  if (!row) { row = make(r); rows.set(r.id, row); body.append(row.tr); }
  row.data = { ...row.data, ...r };
  row.started = r.status === "running" && r.uptime !== null ? Date.now() / 1000 - r.uptime : null;
  draw(row);
}

function draw(row) {
  const r = row.data, c = row.cells;
  row.tr.dataset.status = r.status;
  setText(row.word, r.status + (r.restart_needed ? " (restart needed)" : ""));
  setText(c.name.firstChild, r.name);
  setText(c.app, r.app || r.app_guid);
  setText(c.players, players(r));
  setText(c.cpu, r.status === "running" ? percent(r.cpu_percent) : "–");
  setText(c.memory, r.status === "running" ? bytes(r.memory_bytes) : "–");
  setText(c.ports, ports(r));
  const next = nextRuns.get(r.id);
  setText(c.next, next ? when(next) : "–");
  uptime(row);
  if (c.actions) {
    const live = r.status === "running" || r.status === "starting";
    for (const b of c.actions.querySelectorAll("button")) {
      b.hidden = b.dataset.verb === "start" ? live : !live && r.status !== "crashed";
    }
  }
}

function uptime(row) {
  setText(row.cells.uptime, row.started ? duration(Date.now() / 1000 - row.started) : "–");
}

function tick() { for (const row of rows.values()) if (row.started) uptime(row); }

function sampled(s) {
  const row = rows.get(s.instance_id);
  if (!row) return;
  const d = row.data;
  d.cpu_percent = s.cpu_percent; d.memory_bytes = s.memory_bytes;
  if (s.players !== null) { d.players = s.players; d.max_players = s.max_players ?? d.max_players; }
  draw(row);
  later();
}

// Crashed first, then starting/stopping, running, stopped; by name within each.
function arrange() {
  const sorted = [...rows.values()].sort((a, b) =>
    (ORDER[a.data.status] ?? 9) - (ORDER[b.data.status] ?? 9) || a.data.name.localeCompare(b.data.name, undefined, { numeric: true }));
  let previous = null;
  for (const row of sorted) {
    const expected = previous ? previous.nextSibling : body.firstChild;
    if (expected !== row.tr) body.insertBefore(row.tr, expected);
    previous = row.tr;
  }
  empty.hidden = rows.size > 0;
  empty.replaceChildren("No instance yet: ",
    can("admin") ? h("a", { href: "/new" }, "create one") : "an admin can create one", ".");
  applyFilter();
}

function applyFilter() {
  const q = filter.value.trim().toLowerCase();
  for (const row of rows.values()) {
    const d = row.data;
    row.tr.hidden = q !== "" && !`${d.name} ${d.app} ${d.id}`.toLowerCase().includes(q);
  }
}

function later() { // a sampling round is a burst of events: add up once after it
  if (pending === null) pending = setTimeout(() => { pending = null; summarize(); }, 250);
}

let host = null;
function showHost(data) { if (data) host = data; summarize(); }

function stat(label, value, extra) {
  return h("div", { class: `stat ${extra || ""}` }, h("span", { class: "label", text: label }), h("span", { class: "value", text: value }));
}

function summarize() {
  const all = [...rows.values()].map((r) => r.data);
  const running = all.filter((r) => r.status === "running");
  const crashed = all.filter((r) => r.status === "crashed").length;
  const online = running.reduce((n, r) => n + (r.players || 0), 0);
  const slots = running.reduce((n, r) => n + (r.max_players || 0), 0);
  const items = [
    stat("Running", `${running.length} of ${all.length}`),
    stat("Players online", `${online}/${slots}`),
    stat("Crashed", String(crashed), crashed ? "bad" : ""),
  ];
  if (host) {
    const used = host.memory_total - host.memory_available;
    items.push(stat(`Host CPU (${host.cpus})`, percent(host.cpu_percent)),
      stat("Host memory", `${bytes(used)} of ${bytes(host.memory_total)}`),
      stat("Load", host.load.map((x) => x.toFixed(2)).join(" ")));
  }
  totals.replaceChildren(...items);
  const top = (key, fmt) => h("ol", {}, running.filter((r) => r[key] !== null && r[key] !== undefined)
    .sort((a, b) => b[key] - a[key]).slice(0, 5)
    .map((r) => h("li", {}, h("a", { href: `/instances/${r.id}`, text: r.name }), ` ${fmt(r[key])}`)));
  tops.replaceChildren(
    h("div", { class: "card" }, h("h2", { text: "Top CPU" }), running.length ? top("cpu_percent", percent) : h("p", { class: "muted", text: "Nothing is running." })),
    h("div", { class: "card" }, h("h2", { text: "Top memory" }), running.length ? top("memory_bytes", bytes) : h("p", { class: "muted", text: "Nothing is running." })));
}

async function loadSchedules() {
  try {
    const list = await api("GET", "/schedules");
    nextRuns = new Map();
    for (const s of list) {
      if (!s.next_run) continue;
      const prev = nextRuns.get(s.instance_id);
      if (!prev || new Date(s.next_run) < new Date(prev)) nextRuns.set(s.instance_id, s.next_run);
    }
    for (const row of rows.values()) draw(row);
  } catch (e) { /* schedules are a nicety on this page; errors show on the instance page */ }
}

let scheduleTimer = null;
function loadSchedulesSoon() {
  clearTimeout(scheduleTimer);
  scheduleTimer = setTimeout(loadSchedules, 1000);
}
