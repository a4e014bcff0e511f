// Following an operation (create, clone, backup, restore, update...): its steps come over
// the page's live stream; a look at GET /operations/{id} first catches one already done.

import { api } from "./api.js";
import { connect, connected, on, ready } from "./live.js";
import { h, setText } from "./dom.js";

export function follow(op, onStep) {
  if (!connected()) { connect("kinds=operation"); ready(); }
  return new Promise((resolve) => {
    let finished = false;
    const step = (o) => {
      if (o.id !== op.id || finished) return;
      onStep(o);
      if (o.state === "done" || o.state === "failed") { finished = true; off(); clearInterval(timer); resolve(o); }
    };
    const off = on("operation", step);
    // the stream is the way; this look also covers an operation that ended before we listened
    const look = () => api("GET", `/operations/${op.id}`).then(step).catch(() => {});
    const timer = setInterval(look, 5000);
    look();
  });
}

// A line that shows an operation's progress in words.
export function progressLine() {
  const el = h("p", { class: "progress", role: "status", "aria-live": "polite" });
  el.show = (o) => {
    const p = o.progress;
    let text = `${o.command}: ${o.state}`;
    if (p && o.state === "running") {
      text += ` – ${p.what}` + (p.total ? ` ${Math.round((100 * p.done) / p.total)} %` : "");
    }
    if (o.state === "failed" && o.error) text += ` – ${o.error.error}${o.error.hint ? ` (hint: ${o.error.hint})` : ""}`;
    setText(el, text);
    el.className = `progress ${o.state}`;
  };
  return el;
}
