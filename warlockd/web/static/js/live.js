// The page's one live stream (Server-Sent Events): handlers by event kind. The browser
// reconnects by itself with Last-Event-ID; a `reset` (events were missed) asks the page to
// fetch its state again; `end` (the session ended, or warlockd stops) reloads the page.

import { BASE } from "./api.js";

const KINDS = ["state", "removed", "sample", "event", "operation", "host", "reset"];
const handlers = new Map();
let source = null;
let held = null; // events that came before the page had its snapshot

export function on(kind, fn) {
  if (!handlers.has(kind)) handlers.set(kind, new Set());
  handlers.get(kind).add(fn);
  return () => handlers.get(kind).delete(fn);
}

function dispatch(kind, data) {
  if (held) { held.push([kind, data]); return; }
  for (const fn of handlers.get(kind) || []) fn(data);
}

function status(text, ok) {
  const el = document.getElementById("live");
  if (el) { el.textContent = text; el.classList.toggle("ok", ok); }
}

// Opens the stream; events wait until ready() so none is lost before the snapshot.
export function connect(params) {
  if (source) return;
  held = [];
  source = new EventSource(`${BASE}/events/stream?${params}`);
  source.onopen = () => status("● live", true);
  source.onerror = () => status("reconnecting…", false);
  for (const kind of KINDS) {
    source.addEventListener(kind, (e) => dispatch(kind, JSON.parse(e.data)));
  }
  source.addEventListener("end", () => { source.close(); status("stream ended", false); setTimeout(() => location.reload(), 3000); });
}

export function ready() {
  const queued = held || [];
  held = null;
  for (const [kind, data] of queued) dispatch(kind, data);
}

export function connected() { return source !== null; }
