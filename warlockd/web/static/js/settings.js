// The game's settings as a form made from its manifest's typed options: a select where
// the values are listed, numbers with their range, a checkbox for yes/no, help under each.
// Save (or Ctrl+S) sends the changed ones, each checked by the API as set-config checks
// it; a running game takes them at its next restart, which the page then says.

import { api, can } from "./api.js";
import { alertError, field, h, notice } from "./dom.js";

function input(s, limits) {
  const name = s.option;
  const value = s.value ?? s.default ?? "";
  if (s.options && s.options.length) {
    const sel = h("select", { name }, s.options.map((o) => h("option", { value: String(o), text: String(o) })));
    sel.value = String(value);
    return sel;
  }
  if (s.type === "bool") return h("input", { name, type: "checkbox", checked: value === true || value === "true" });
  if (s.type === "int" || s.type === "float") {
    return h("input", { name, type: "number", value: String(value), step: s.type === "int" ? "1" : "any",
      min: limits.min ?? null, max: limits.max ?? null, inputmode: s.type === "int" ? "numeric" : "decimal" });
  }
  if (s.type === "text") return h("textarea", { name, rows: 3, text: String(value) });
  return h("input", { name, type: "text", value: String(value) });
}

function read(el, type) {
  if (el.type === "checkbox") return el.checked;
  if (type === "int" && el.value !== "") return Number.parseInt(el.value, 10);
  if (type === "float" && el.value !== "") return Number.parseFloat(el.value);
  return el.value;
}

export async function render(panel, ctx) {
  const [rows, app] = await Promise.all([
    api("GET", `/instances/${ctx.id}/settings`),
    ctx.inst.app ? api("GET", `/apps/${ctx.inst.app}`).catch(() => null) : null,
  ]);
  const limits = new Map((app?.settings || []).map((s) => [s.option, s]));
  const form = h("form", { class: "settings", novalidate: true });
  const controls = [];
  const groups = new Map();
  for (const s of rows) {
    const el = input(s, limits.get(s.option) || {});
    el.disabled = !can("operate");
    const lim = limits.get(s.option) || {};
    const range = lim.min !== null && lim.min !== undefined || lim.max !== null && lim.max !== undefined
      ? ` (${lim.min ?? "…"} to ${lim.max ?? "…"})` : "";
    const error = h("small", { class: "error", role: "alert" });
    const f = field(s.option, el, (s.help || "") + range);
    f.append(error);
    if (!groups.has(s.group)) groups.set(s.group, h("fieldset", {}, h("legend", { text: s.group || "Settings" })));
    groups.get(s.group).append(f);
    controls.push({ s, el, error, original: read(el, s.type) });
  }
  const status = h("p", { class: "muted", role: "status" });
  const save = h("button", { type: "submit", class: "primary" }, "Save");
  form.append(...groups.values());
  if (can("operate")) form.append(h("div", { class: "buttons" }, save, h("span", { class: "muted", text: "Ctrl+S saves" }), status));
  if (!rows.length) form.append(h("p", { class: "empty", text: "This game has no settings warlockd knows of." }));
  panel.replaceChildren(h("h2", { text: "Settings" }), form);

  const submit = async () => {
    const changed = controls.filter((c) => read(c.el, c.s.type) !== c.original);
    for (const c of controls) c.error.textContent = "";
    if (!changed.length) { status.textContent = "Nothing changed."; return; }
    save.disabled = true;
    let restart = false, failed = 0;
    for (const c of changed) {
      try {
        const done = await api("PUT", `/instances/${ctx.id}/settings/${encodeURIComponent(c.s.option)}`, { value: read(c.el, c.s.type) });
        c.original = read(c.el, c.s.type);
        restart ||= Boolean(done.data && done.data.restart_needed);
      } catch (e) {
        failed++;
        c.error.textContent = e.message + (e.hint ? ` (hint: ${e.hint})` : "");
      }
    }
    save.disabled = false;
    const saved = changed.length - failed;
    status.textContent = `${saved} saved${failed ? `, ${failed} refused` : ""}.` + (restart ? " Restart needed to apply." : "");
    if (restart) { ctx.inst.restart_needed = true; ctx.main.querySelector(".instance-head").update(); }
    if (failed) alertError({ message: `${failed} setting(s) refused: see the form` });
    else notice(`Saved ${saved} setting(s).${restart ? " Restart the server to apply them." : ""}`);
  };
  form.addEventListener("submit", (e) => { e.preventDefault(); submit().catch(alertError); });
  document.addEventListener("keydown", (e) => {
    if ((e.ctrlKey || e.metaKey) && e.key.toLowerCase() === "s" && !panel.hidden && can("operate")) {
      e.preventDefault();
      submit().catch(alertError);
    }
  });
}
