// Backups: the list (newest first), a new one (an operation, its progress from the
// stream), a download, and a restore that first says what it will replace.

import { api, BASE, can } from "./api.js";
import { alertError, ask, bytes, h, notice, when } from "./dom.js";
import { follow, progressLine } from "./ops.js";

export async function render(panel, ctx) {
  const body = h("tbody");
  const line = progressLine();
  const make = h("button", { type: "button", class: "primary" }, "Back up now");
  panel.replaceChildren(h("h2", { text: "Backups" }), can("operate") ? h("div", { class: "toolbar" }, make) : null, line,
    h("table", { class: "list" }, h("thead", {}, h("tr", {}, ["Made", "File", "Size", "Where", ""].map((c) => h("th", { scope: "col", text: c })))), body));
  const load = async () => {
    const rows = await api("GET", `/instances/${ctx.id}/backups`);
    body.replaceChildren(...rows.map((b) => h("tr", {},
      h("td", { "data-label": "Made", text: when(b.time) }), h("td", { "data-label": "File", text: b.name }),
      h("td", { "data-label": "Size", text: bytes(b.size) }), h("td", { "data-label": "Where", text: b.where }),
      h("td", { class: "row-actions" },
        can("operate") && b.where === "local" ? h("a", { class: "button small", href: `${BASE}/instances/${ctx.id}/backups/${encodeURIComponent(b.name)}`, download: b.name }, "Download") : null,
        can("operate") ? h("button", { type: "button", class: "small danger", onclick: () => restore(b) }, "Restore") : null))));
    if (!rows.length) body.append(h("tr", {}, h("td", { colspan: 5, class: "empty", text: "No backup yet: make one with “Back up now”." })));
  };
  const run = async (request) => {
    try {
      const accepted = await request();
      const op = await follow(accepted.operation, line.show);
      if (op.state === "done") notice(`${op.command} done.`);
      await load();
    } catch (e) { alertError(e); }
  };
  make.addEventListener("click", () => run(() => api("POST", `/instances/${ctx.id}/backups`, {})));
  const restore = async (b) => {
    const running = ctx.inst.status === "running" || ctx.inst.status === "starting";
    const words = [`This replaces the saves of “${ctx.inst.name}” now on disk with those of the backup ${b.name}, made ${when(b.time)}.`,
      "A safety backup of the current saves is made first."];
    if (running) words.push(`${ctx.inst.name} is running: it will be stopped for the restore and started again.`);
    const ok = await ask(`Restore ${b.name}?`, words, `Replace the saves of ${ctx.inst.name}`);
    if (ok) run(() => api("POST", `/instances/${ctx.id}/backups/${encodeURIComponent(b.name)}/restore`, { force: running }));
  };
  await load();
}
