// Small DOM helpers: elements are built with h() and text is always set as text (never
// as HTML), so nothing a game, a player name or a log line holds can become markup.

export function h(tag, attrs = {}, ...children) {
  const el = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs || {})) {
    if (v === null || v === undefined || v === false) continue;
    if (k.startsWith("on")) el.addEventListener(k.slice(2), v);
    else if (k === "class") el.className = v;
    else if (k === "text") el.textContent = v;
    else if (k in el && typeof v !== "string") el[k] = v;
    else el.setAttribute(k, v === true ? "" : v);
  }
  for (const c of children.flat()) {
    if (c === null || c === undefined || c === false) continue;
    el.append(c instanceof Node ? c : document.createTextNode(String(c)));
  }
  return el;
}

export function setText(el, text) {
  if (el.textContent !== text) el.textContent = text;
}

export function bytes(n) {
  if (n === null || n === undefined) return "–";
  const units = ["B", "KB", "MB", "GB", "TB"];
  let i = 0;
  while (n >= 1024 && i < units.length - 1) { n /= 1024; i++; }
  return `${n >= 100 || i === 0 ? Math.round(n) : n.toFixed(1)} ${units[i]}`;
}

export function percent(n) {
  return n === null || n === undefined ? "–" : `${n.toFixed(n < 10 ? 1 : 0)} %`;
}

export function duration(s) {
  if (s === null || s === undefined) return "–";
  if (s < 60) return `${Math.floor(s)} s`;
  if (s < 3600) return `${Math.floor(s / 60)} min`;
  if (s < 86400) return `${Math.floor(s / 3600)} h ${Math.floor((s % 3600) / 60)} min`;
  return `${Math.floor(s / 86400)} d ${Math.floor((s % 86400) / 3600)} h`;
}

export function when(ts) {
  if (!ts) return "–";
  const d = typeof ts === "number" ? new Date(ts * 1000) : new Date(ts);
  return d.toLocaleString();
}

export function players(row) {
  if (row.players === null || row.players === undefined) {
    return row.max_players ? `–/${row.max_players}` : "–";
  }
  return `${row.players}/${row.max_players ?? "?"}`;
}

export function ports(row) {
  return (row.ports || []).map((p) => `${p.port}${p.protocol && p.protocol !== "both" ? "/" + p.protocol : ""}`).join(", ");
}

// An error in words, with the API's hint; it stays until dismissed or replaced.
export function alertError(err) {
  const box = document.getElementById("alerts");
  const msg = err && err.message ? err.message : String(err);
  const item = h("div", { class: "alert" },
    h("strong", { text: "Error: " }), msg,
    err && err.hint ? h("span", { class: "hint" }, ` (hint: ${err.hint})`) : null,
    h("button", { type: "button", class: "link", "aria-label": "Dismiss", onclick: () => item.remove() }, "×"));
  box.replaceChildren(item);
}

export function notice(text) {
  const box = document.getElementById("alerts");
  const item = h("div", { class: "notice" }, text,
    h("button", { type: "button", class: "link", "aria-label": "Dismiss", onclick: () => item.remove() }, "×"));
  box.replaceChildren(item);
  setTimeout(() => item.remove(), 6000);
}

// A modal question in a <dialog>; resolves to the form's values, or null when cancelled.
export function ask(title, body, okText, fields = []) {
  return new Promise((resolve) => {
    const form = h("form", { method: "dialog", class: "dialog" },
      h("h2", { text: title }), ...[].concat(body).map((b) => (typeof b === "string" ? h("p", { text: b }) : b)),
      ...fields,
      h("div", { class: "buttons" },
        h("button", { type: "button", value: "cancel", onclick: () => { dlg.close(); } }, "Cancel"),
        h("button", { type: "submit", class: "danger", value: "ok" }, okText)));
    const dlg = h("dialog", {}, form);
    form.addEventListener("submit", (e) => {
      e.preventDefault();
      const values = Object.fromEntries(new FormData(form).entries());
      for (const el of form.querySelectorAll("input[type=checkbox]")) values[el.name] = el.checked;
      dlg.returnValue = "ok";
      dlg.close();
      resolve(values);
    });
    dlg.addEventListener("close", () => { if (dlg.returnValue !== "ok") resolve(null); dlg.remove(); });
    document.body.append(dlg);
    dlg.showModal();
  });
}

export function field(label, input, help) {
  const id = input.id || (input.id = `f-${Math.random().toString(36).slice(2, 9)}`);
  const helpEl = help ? h("small", { id: `${id}-help`, class: "help", text: help }) : null;
  if (helpEl) input.setAttribute("aria-describedby", helpEl.id);
  return h("div", { class: "field" }, h("label", { for: id, text: label }), input, helpEl);
}
