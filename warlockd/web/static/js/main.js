// Where the page starts: who is logged in (GET /session), the header, then the page the
// path names. Every page is a module with render(main, ...) that draws into <main>.

import { api, can, session, setSession } from "./api.js";
import { alertError } from "./dom.js";

const ROUTES = [
  [/^\/$/, "./overview.js"],
  [/^\/new$/, "./create.js"],
  [/^\/admin$/, "./admin.js"],
  [/^\/instances\/([0-9a-z-]+)$/, "./instance.js"],
];

async function logout() {
  try { await api("POST", "/logout"); } catch (e) { /* ended already */ }
  location.assign("/login");
}

function header() {
  const nav = document.getElementById("nav");
  for (const a of nav.querySelectorAll("[data-scope]")) a.hidden = !can(a.dataset.scope);
  for (const a of nav.querySelectorAll("a")) {
    if (a.getAttribute("href") === location.pathname) a.setAttribute("aria-current", "page");
  }
  nav.hidden = false;
  document.getElementById("who").textContent = `${session.who} (${session.scope})`;
  const out = document.getElementById("logout");
  out.hidden = false;
  out.addEventListener("click", logout);
}

async function start() {
  const main = document.getElementById("main");
  if (location.pathname === "/login") {
    (await import("./login.js")).render(main);
    return;
  }
  try {
    setSession(await api("GET", "/session"));
  } catch (e) {
    if (e.status !== 401) alertError(e);
    return;
  }
  header();
  for (const [pattern, module] of ROUTES) {
    const m = location.pathname.match(pattern);
    if (m) {
      try {
        await (await import(module)).render(main, ...m.slice(1));
      } catch (e) {
        alertError(e);
      }
      return;
    }
  }
  main.textContent = "No such page.";
}

start();
