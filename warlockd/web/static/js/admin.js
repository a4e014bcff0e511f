// Keys and users (admins of the whole host): a new key is shown once, here; revoking one
// ends its sessions and streams at once; a user's new password ends their sessions.

import { api } from "./api.js";
import { alertError, ask, field, h, notice, when } from "./dom.js";

const SCOPES = ["read", "operate", "admin"];

function scopeSelect(value = "read") {
  const s = h("select", { name: "scope" }, SCOPES.map((x) => h("option", { value: x, text: x })));
  s.value = value;
  return s;
}

function only(text) {
  const ids = text.split(/[\s,]+/).filter(Boolean);
  return ids.length ? ids : null;
}

function table(head, rows, emptyText) {
  const body = h("tbody", {}, rows);
  if (!rows.length) body.append(h("tr", {}, h("td", { colspan: head.length, class: "empty", text: emptyText })));
  return h("table", { class: "list" }, h("thead", {}, h("tr", {}, head.map((c) => h("th", { scope: "col", text: c })))), body);
}

export async function render(main) {
  const keys = h("section", { "aria-labelledby": "keys-h" });
  const users = h("section", { "aria-labelledby": "users-h" });
  main.replaceChildren(h("h1", { text: "Keys and users" }), keys, users);
  const drawKeys = async () => {
    const list = await api("GET", "/keys");
    const rows = list.map((k) => h("tr", {},
      h("td", { "data-label": "Name", text: k.name }), h("td", { "data-label": "Id", text: k.id }),
      h("td", { "data-label": "Scope", text: k.scope }), h("td", { "data-label": "Instances", text: k.instances ? k.instances.join(", ") : "all" }),
      h("td", { "data-label": "Last used", text: when(k.last_used) }),
      h("td", { class: "row-actions" }, h("button", { type: "button", class: "small danger", onclick: async () => {
        if (!(await ask(`Revoke the key ${k.name}?`, ["Scripts and sessions using it stop at once."], "Revoke"))) return;
        try { await api("DELETE", `/keys/${encodeURIComponent(k.id)}`); await drawKeys(); } catch (e) { alertError(e); }
      } }, "Revoke"))));
    const name = h("input", { name: "name", required: true, maxlength: 64 });
    const scope = scopeSelect();
    const inst = h("input", { name: "instances", placeholder: "all" });
    const shown = h("div", { class: "secret", hidden: true, role: "status" });
    const form = h("form", { class: "card inline" }, h("h3", { text: "New key" }), field("Name", name), field("Scope", scope),
      field("Only these instances", inst, "Ids, separated by spaces or commas; empty: all"), h("div", { class: "buttons" }, h("button", { type: "submit", class: "primary" }, "Create key")), shown);
    form.addEventListener("submit", async (e) => {
      e.preventDefault();
      try {
        const made = await api("POST", "/keys", { name: name.value.trim(), scope: scope.value, instances: only(inst.value) });
        await drawKeys();
        const box = keys.querySelector(".secret");
        box.hidden = false;
        box.replaceChildren(h("p", {}, h("strong", { text: `The key ${made.name}, shown this once:` })), h("code", { class: "key", text: made.key }),
          h("button", { type: "button", class: "small", onclick: () => navigator.clipboard?.writeText(made.key).then(() => notice("Copied.")) }, "Copy"));
      } catch (err) { alertError(err); }
    });
    keys.replaceChildren(h("h2", { id: "keys-h", text: "API keys" }), table(["Name", "Id", "Scope", "Instances", "Last used", ""], rows, "No key yet."), form);
  };
  const drawUsers = async () => {
    const list = await api("GET", "/users");
    const rows = list.map((u) => h("tr", {},
      h("td", { "data-label": "Name", text: u.name }), h("td", { "data-label": "Scope", text: u.scope }),
      h("td", { "data-label": "Instances", text: u.instances ? u.instances.join(", ") : "all" }),
      h("td", { "data-label": "Password changed", text: when(u.password_changed_at) }),
      h("td", { class: "row-actions" },
        h("button", { type: "button", class: "small", onclick: async () => {
          const pw = h("input", { name: "password", type: "password", required: true, autocomplete: "new-password", minlength: 8 });
          const v = await ask(`New password for ${u.name}`, ["Their sessions end."], "Set password", [field("Password", pw)]);
          if (!v) return;
          try { await api("PUT", `/users/${encodeURIComponent(u.name)}/password`, { password: v.password }); notice("Password set."); } catch (e) { alertError(e); }
        } }, "Password"),
        h("button", { type: "button", class: "small danger", onclick: async () => {
          if (!(await ask(`Remove the user ${u.name}?`, ["Their sessions end at once."], "Remove"))) return;
          try { await api("DELETE", `/users/${encodeURIComponent(u.name)}`); await drawUsers(); } catch (e) { alertError(e); }
        } }, "Remove"))));
    const name = h("input", { name: "name", required: true, maxlength: 64, autocomplete: "off" });
    const pw = h("input", { name: "password", type: "password", required: true, autocomplete: "new-password" });
    const scope = scopeSelect("operate");
    const inst = h("input", { name: "instances", placeholder: "all" });
    const form = h("form", { class: "card inline" }, h("h3", { text: "New user" }), field("Name", name), field("Password", pw), field("Scope", scope),
      field("Only these instances", inst, "Ids; empty: all"), h("div", { class: "buttons" }, h("button", { type: "submit", class: "primary" }, "Add user")));
    form.addEventListener("submit", async (e) => {
      e.preventDefault();
      try {
        await api("POST", "/users", { name: name.value.trim(), password: pw.value, scope: scope.value, instances: only(inst.value) });
        notice("User added.");
        await drawUsers();
      } catch (err) { alertError(err); }
    });
    users.replaceChildren(h("h2", { id: "users-h", text: "Users" }), table(["Name", "Scope", "Instances", "Password changed", ""], rows, "No user yet."), form);
  };
  await Promise.all([drawKeys(), drawUsers()]);
}
