// Schedules of the instance: systemd timers warlockd made (next run from systemd, last run
// and its result from the events); add, pause, resume, run now, remove.

import { api, can } from "./api.js";
import { alertError, field, h, notice, when } from "./dom.js";
import { follow, progressLine } from "./ops.js";

const TASKS = { backup: "Back up", restart: "Restart (players warned)", update: "Update", command: "Console command" };

function describe(s) {
  const extra = [s.text && `“${s.text}”`, s.keep && `keep ${s.keep}`, s.to !== "local" && `to ${s.to}`, s.warn && `warn ${s.warn}`, s.when_empty && "when empty"].filter(Boolean);
  return `${TASKS[s.task] || s.task}${extra.length ? ` (${extra.join(", ")})` : ""}`;
}

export async function render(panel, ctx) {
  const body = h("tbody");
  const line = progressLine();
  panel.replaceChildren(h("h2", { text: "Schedules" }), line,
    h("table", { class: "list" }, h("thead", {}, h("tr", {}, ["Task", "When", "Next run", "Last run", ""].map((c) => h("th", { scope: "col", text: c })))), body));
  const call = async (method, path, body_) => {
    try { await api(method, `/instances/${ctx.id}/schedules${path}`, body_); await load(); } catch (e) { alertError(e); }
  };
  const load = async () => {
    const rows = await api("GET", `/instances/${ctx.id}/schedules`);
    body.replaceChildren(...rows.map((s) => h("tr", {},
      h("td", { "data-label": "Task", text: describe(s) }),
      h("td", { "data-label": "When", text: s.on_calendar + (s.paused ? " (paused)" : "") }),
      h("td", { "data-label": "Next run", text: s.next_run ? when(s.next_run) : "–" }),
      h("td", { "data-label": "Last run", text: s.last_run ? `${when(s.last_run)}: ${s.last_result || "?"}` : "never" }),
      h("td", { class: "row-actions" }, can("operate") ? [
        h("button", { type: "button", class: "small", onclick: () => call("POST", `/${s.id}/${s.paused ? "resume" : "pause"}`) }, s.paused ? "Resume" : "Pause"),
        h("button", { type: "button", class: "small", onclick: () => runNow(s) }, "Run now"),
        h("button", { type: "button", class: "small danger", onclick: () => call("DELETE", `/${s.id}`) }, "Remove"),
      ] : null))));
    if (!rows.length) body.append(h("tr", {}, h("td", { colspan: 5, class: "empty", text: "No schedule yet: add one below." })));
  };
  const runNow = async (s) => {
    try {
      const accepted = await api("POST", `/instances/${ctx.id}/schedules/${s.id}/run`);
      const op = await follow(accepted.operation, line.show);
      if (op.state === "done") notice(`${describe(s)}: ${op.result && op.result.result}`);
      await load();
    } catch (e) { alertError(e); }
  };
  if (can("operate")) panel.append(addForm(ctx, load));
  await load();
}

function addForm(ctx, load) {
  const task = h("select", { name: "task" }, Object.entries(TASKS).map(([v, t]) => h("option", { value: v, text: t })));
  const text = h("input", { name: "text", placeholder: "say Vote for the next map!" });
  const calendar = h("input", { name: "on_calendar", required: true, value: "*-*-* 05:00" });
  const keep = h("input", { name: "keep", type: "number", min: 1, max: 10000, placeholder: "all" });
  const warn = h("input", { name: "warn", placeholder: "5m" });
  const fText = field("Command", text, "The console command to send (command task)");
  const fKeep = field("Keep", keep, "Backups to keep (backup task); empty: all");
  const fWarn = field("Warn players", warn, "How long before (restart and update); up to 1h");
  const shown = () => { fText.hidden = task.value !== "command"; fKeep.hidden = task.value !== "backup"; fWarn.hidden = !["restart", "update"].includes(task.value); };
  task.addEventListener("change", shown);
  shown();
  const form = h("form", { class: "card inline" }, h("h3", { text: "Add a schedule" }), field("Task", task),
    field("When", calendar, "systemd's calendar: hourly, daily, Mon 06:00, *-*-* 05:00, *:0/30"), fText, fKeep, fWarn,
    h("div", { class: "buttons" }, h("button", { type: "submit", class: "primary" }, "Add")));
  form.addEventListener("submit", async (e) => {
    e.preventDefault();
    const body = { task: task.value, on_calendar: calendar.value.trim() };
    if (task.value === "command") body.text = text.value.trim();
    if (task.value === "backup" && keep.value) body.keep = Number.parseInt(keep.value, 10);
    if (["restart", "update"].includes(task.value) && warn.value.trim()) body.warn = warn.value.trim();
    try {
      await api("POST", `/instances/${ctx.id}/schedules`, body);
      notice("Schedule added.");
      await load();
    } catch (err) { alertError(err); }
  });
  return form;
}
