// Log in with a user (`warlock user add`) or an API key (`warlock api-key create`): either
// starts a session (an HttpOnly cookie); the key itself is never kept by the page.

import { api, ApiError } from "./api.js";
import { field, h } from "./dom.js";

function target() {
  const next = new URLSearchParams(location.search).get("next") || "/";
  return next.startsWith("/") && !next.startsWith("//") ? next : "/"; // no open redirect
}

function form(title, fields, submit, send) {
  const error = h("p", { class: "error", role: "alert" });
  const f = h("form", { class: "card login" }, h("h2", { text: title }), ...fields, error,
    h("button", { type: "submit", class: "primary" }, submit));
  f.addEventListener("submit", async (e) => {
    e.preventDefault();
    error.textContent = "";
    try {
      await send(new FormData(f));
      location.assign(target());
    } catch (err) {
      const hint = err instanceof ApiError && err.hint ? ` (hint: ${err.hint})` : "";
      error.textContent = (err.message || String(err)) + hint;
    }
  });
  return f;
}

export function render(main) {
  const user = form("Log in", [
    field("User", h("input", { name: "name", autocomplete: "username", required: true, autofocus: true })),
    field("Password", h("input", { name: "password", type: "password", autocomplete: "current-password", required: true })),
  ], "Log in", (d) => api("POST", "/login", { name: d.get("name"), password: d.get("password") }));
  const key = form("Or with an API key", [
    field("API key", h("input", { name: "key", type: "password", autocomplete: "off", required: true, placeholder: "wlk_…" }),
      "A key from `warlock api-key create`; the session has its scope."),
  ], "Log in with the key", (d) => api("POST", "/login/key", { key: d.get("key") }));
  main.replaceChildren(h("h1", { text: "warlockd" }),
    h("p", { class: "muted", text: "Make a user with `warlock user add --name NAME` (as root)." }),
    h("div", { class: "logins" }, user, key));
}
