// A new instance: the game chosen from the manifests, a name, and the ports it would get
// (asked of the host before creating; they can be changed); then the create's progress.

import { api } from "./api.js";
import { alertError, field, h } from "./dom.js";
import { follow, progressLine } from "./ops.js";

export async function render(main) {
  const apps = await api("GET", "/apps");
  const app = h("select", { name: "app", required: true }, apps.map((a) => h("option", { value: a.slug, text: `${a.title} (${a.install})` })));
  const name = h("input", { name: "name", maxlength: 64, placeholder: "Friday night" });
  const ports = h("div", { class: "ports" });
  const about = h("p", { class: "muted" });
  const line = progressLine();
  const button = h("button", { type: "submit", class: "primary" }, "Create");
  const form = h("form", { class: "card create" }, field("Game", app), field("Name", name, "Empty: the game's title"),
    h("fieldset", {}, h("legend", { text: "Ports" }), about, ports), h("div", { class: "buttons" }, button), line);
  main.replaceChildren(h("h1", { text: "New instance" }), form);
  const showPorts = async () => {
    const chosen = apps.find((a) => a.slug === app.value);
    about.textContent = `${chosen.title}: up to ${chosen.max_players ?? "?"} players. These ports are free now; a create checks them again.`;
    ports.replaceChildren(h("p", { class: "muted", text: "Finding free ports…" }));
    let free = {};
    try { free = await api("GET", `/apps/${chosen.slug}/ports`); } catch (e) { alertError(e); }
    ports.replaceChildren(...chosen.ports.map((p) => field(`${p.key} (${p.protocol})`,
      h("input", { type: "number", name: `port:${p.key}`, min: 1024, max: 65535, value: String(free[p.key] ?? p.default), "data-default": String(free[p.key] ?? "") }),
      p.description)));
  };
  app.addEventListener("change", () => showPorts().catch(alertError));
  await showPorts();
  form.addEventListener("submit", async (e) => {
    e.preventDefault();
    const body = { app: app.value };
    if (name.value.trim()) body.name = name.value.trim();
    const given = {};
    for (const el of ports.querySelectorAll("input")) {
      if (el.value && el.value !== el.dataset.default) given[el.name.slice(5)] = Number.parseInt(el.value, 10);
    }
    if (Object.keys(given).length) body.ports = given; // else the allocator picks again
    button.disabled = true;
    try {
      const accepted = await api("POST", "/instances", body);
      const op = await follow(accepted.operation, line.show);
      if (op.state === "done") location.assign(`/instances/${accepted.instance_id}`);
    } catch (err) { alertError(err); } finally { button.disabled = false; }
  });
}
