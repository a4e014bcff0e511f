// One instance: its live state and actions at the top, then tabs: charts, console,
// settings, backups, schedules, events. Each tab is drawn the first time it is shown; the
// tab is in the address (#console), so a link or a reload opens it again.

import { api, can } from "./api.js";
import { connect, on, ready } from "./live.js";
import { alertError, ask, bytes, duration, field, h, notice, percent, players, ports, setText, when } from "./dom.js";
import { follow, progressLine } from "./ops.js";

const TABS = [
  ["charts", "Charts", () => import("./charts.js")],
  ["console", "Console", () => import("./console.js")],
  ["settings", "Settings", () => import("./settings.js")],
  ["backups", "Backups", () => import("./backups.js")],
  ["schedules", "Schedules", () => import("./schedules.js")],
  ["events", "Events", null],
];

export async function render(main, id) {
  connect(`kinds=state,removed,sample,event,operation&instance=${id}`);
  const inst = await api("GET", `/instances/${id}`);
  const ctx = { id, inst, main, refresh: null };
  const head = header(ctx);
  const tabs = h("div", { class: "tabs", role: "tablist", "aria-label": "Instance" });
  const panels = h("div", { class: "panels" });
  main.replaceChildren(head, tabs, panels);
  const drawn = new Map();
  const show = async (name) => {
    for (const b of tabs.children) {
      const on = b.dataset.tab === name;
      b.setAttribute("aria-selected", String(on));
      b.tabIndex = on ? 0 : -1;
    }
    for (const p of panels.children) p.hidden = p.dataset.tab !== name;
    if (!drawn.has(name)) {
      const panel = h("section", { class: "panel", role: "tabpanel", "data-tab": name, id: `panel-${name}`, "aria-labelledby": `tab-${name}` });
      drawn.set(name, panel);
      panels.append(panel);
      const [, , load] = TABS.find((t) => t[0] === name);
      try {
        if (load) (await load()).render(panel, ctx);
        else events(panel, ctx);
      } catch (e) { alertError(e); }
    }
    history.replaceState(null, "", `#${name}`);
  };
  for (const [name, label] of TABS) {
    tabs.append(h("button", { type: "button", role: "tab", id: `tab-${name}`, "data-tab": name, "aria-controls": `panel-${name}`, onclick: () => show(name), onkeydown: (e) => arrows(e, tabs, show) }, label));
  }
  on("state", (r) => { if (r.id === id) { Object.assign(ctx.inst, r); head.update(); } });
  on("sample", (s) => { if (s.instance_id === id) { Object.assign(ctx.inst, pick(s)); head.update(); } });
  on("removed", (d) => { if (d.instance_id === id) { notice("This instance was deleted."); setTimeout(() => location.assign("/"), 1500); } });
  on("reset", async () => { Object.assign(ctx.inst, await api("GET", `/instances/${id}`)); head.update(); });
  ready();
  const wanted = location.hash.slice(1);
  await show(TABS.some((t) => t[0] === wanted) ? wanted : "charts");
}

const since = new Map(); // when a row's uptime was told: uptime goes on from there
function uptime(r) {
  if (r.status !== "running" || r.uptime === null || r.uptime === undefined) return "–";
  const key = `${r.id}:${r.uptime}`;
  if (!since.has(key)) { since.clear(); since.set(key, Date.now() / 1000 - r.uptime); }
  return duration(Date.now() / 1000 - since.get(key));
}

function pick(s) {
  const out = { cpu_percent: s.cpu_percent, memory_bytes: s.memory_bytes };
  if (s.players !== null) { out.players = s.players; out.max_players = s.max_players; }
  return out;
}

function arrows(e, tabs, show) { // the tab list's keys: left and right move between tabs
  const all = [...tabs.children];
  const i = all.indexOf(e.currentTarget);
  const to = e.key === "ArrowRight" ? all[(i + 1) % all.length] : e.key === "ArrowLeft" ? all[(i - 1 + all.length) % all.length] : null;
  if (to) { e.preventDefault(); to.focus(); show(to.dataset.tab); }
}

function header(ctx) {
  const { id } = ctx;
  const title = h("h1", {});
  const badge = h("span", { class: "badge" });
  const facts = h("dl", { class: "facts" });
  const restart = h("p", { class: "restart-needed", hidden: true }, "Settings changed: restart to apply them.");
  const buttons = h("div", { class: "actions" });
  const act = async (verb, button) => {
    button.disabled = true;
    try { await api("POST", `/instances/${id}/${verb}`); } catch (e) { alertError(e); } finally { button.disabled = false; }
  };
  const verbs = [["start", "Start"], ["stop", "Stop"], ["restart", "Restart"]];
  const byVerb = {};
  if (can("operate")) {
    for (const [verb, label] of verbs) {
      byVerb[verb] = h("button", { type: "button", class: verb, onclick: (e) => act(verb, e.currentTarget) }, label);
      buttons.append(byVerb[verb]);
    }
  }
  if (can("admin")) {
    buttons.append(h("button", { type: "button", onclick: () => clone(ctx) }, "Clone"),
      h("button", { type: "button", class: "danger", onclick: () => remove(ctx) }, "Delete"));
  }
  const el = h("section", { class: "instance-head", "data-status": "" },
    h("p", { class: "crumbs" }, h("a", { href: "/" }, "Instances"), " / "), h("div", { class: "title" }, title, badge), facts, restart, buttons);
  el.update = () => {
    const r = ctx.inst;
    el.dataset.status = r.status;
    setText(title, r.name);
    setText(badge, r.status);
    document.title = `${r.name} – warlockd`;
    restart.hidden = !r.restart_needed;
    const live = r.status === "running" || r.status === "starting";
    if (byVerb.start) { byVerb.start.hidden = live; byVerb.stop.hidden = !live && r.status !== "crashed"; byVerb.restart.hidden = !live; }
    const rows = [["Game", r.app || r.app_guid], ["Players", players(r)],
      ["CPU", r.status === "running" ? percent(r.cpu_percent) : "–"],
      ["Memory", r.status === "running" ? bytes(r.memory_bytes) : "–"],
      ["Uptime", uptime(r)], ["Ports", ports(r)],
      ["Restarts", String(r.restarts)], ["Id", r.id]];
    facts.replaceChildren(...rows.map(([k, v]) => h("div", {}, h("dt", { text: k }), h("dd", { text: v, "data-fact": k }))));
  };
  el.update();
  setInterval(() => { const dd = facts.querySelector("[data-fact=Uptime]"); if (dd) setText(dd, uptime(ctx.inst)); }, 1000);
  return el;
}

async function clone(ctx) {
  const name = h("input", { name: "name", required: true, value: `${ctx.inst.name} (copy)`, maxlength: 64 });
  const values = await ask(`Clone ${ctx.inst.name}`, ["A new instance with a copy of this one's saves, limits and environment, and ports of its own."], "Clone", [field("Name of the copy", name)]);
  if (!values) return;
  try {
    const accepted = await api("POST", `/instances/${ctx.id}/clone`, { name: values.name });
    const line = progressLine();
    ctx.main.querySelector(".instance-head").append(line);
    const op = await follow(accepted.operation, line.show);
    if (op.state === "done") location.assign(`/instances/${accepted.instance_id}`);
  } catch (e) { alertError(e); }
}

async function remove(ctx) {
  const name = ctx.inst.name;
  const typed = h("input", { name: "typed", required: true, autocomplete: "off" });
  const purge = h("input", { name: "purge", type: "checkbox" });
  const values = await ask(`Delete ${name}?`, [`This stops ${name} and removes its unit and registration. Type the instance's name to confirm.`], "Delete",
    [field(`Type "${name}"`, typed), h("label", { class: "check" }, purge, " Also remove its data (saves, backups) and its user")]);
  if (!values) return;
  if (values.typed !== name) { alertError({ message: "the name typed does not match: nothing was deleted" }); return; }
  try {
    await api("DELETE", `/instances/${ctx.id}?purge=${values.purge ? "true" : "false"}`);
    location.assign("/");
  } catch (e) { alertError(e); }
}

async function events(panel, ctx) {
  const list = h("ol", { class: "events" });
  panel.replaceChildren(h("h2", { text: "Events of the last week" }), list);
  const line = (ev) => h("li", {}, h("time", { text: when(ev.ts) }), h("span", { class: `kind ${ev.kind}`, text: ev.kind }), h("span", { text: ev.message }));
  const found = await api("GET", `/events?since=1w&instance=${ctx.id}`);
  const items = found.slice(-200).reverse().map(line);
  list.replaceChildren(...items);
  if (!items.length) list.append(h("li", { class: "muted", text: "No events yet." }));
  on("event", (ev) => {
    if (ev.instance_id !== ctx.id) return;
    list.querySelector(".muted")?.remove();
    list.prepend(line(ev));
    while (list.children.length > 200) list.lastChild.remove();
  });
}
