// CPU, memory and players over 1 h, 1 d or 1 w, from the metrics history (downsampled by
// the API), drawn with Debian's Chart.js; the last hour goes on live from the stream.

import { api } from "./api.js";
import { on } from "./live.js";
import { bytes, h } from "./dom.js";

const RANGES = { "1h": 3600, "1d": 86400, "1w": 604800 };
let loading = null;

function loadChartJs() { // only this tab needs it: the overview loads without it
  if (window.Chart) return Promise.resolve(window.Chart);
  loading ||= new Promise((resolve, reject) => {
    const s = h("script", { src: "/static/vendor/chart.min.js" });
    s.addEventListener("load", () => resolve(window.Chart));
    s.addEventListener("error", () => reject(new Error("Chart.js is missing (hint: apt install libjs-chart.js)")));
    document.head.append(s);
  });
  return loading;
}

function clock(seconds) {
  return (v) => {
    const d = new Date(v * 1000);
    return seconds > 86400 ? d.toLocaleDateString(undefined, { weekday: "short", day: "numeric" }) + " " + d.toLocaleTimeString(undefined, { hour: "2-digit", minute: "2-digit" })
      : d.toLocaleTimeString(undefined, { hour: "2-digit", minute: "2-digit" });
  };
}

function chart(Chart, canvas, label, color, format) {
  return new Chart(canvas, {
    type: "line",
    data: { datasets: [{ label, data: [], borderColor: color, backgroundColor: color + "33", fill: true, pointRadius: 2, borderWidth: 1.5, spanGaps: false }] },
    options: {
      animation: false, parsing: false, normalized: true, responsive: true, maintainAspectRatio: false,
      interaction: { mode: "index", intersect: false },
      scales: {
        x: { type: "linear", ticks: { callback: clock(3600), maxTicksLimit: 6 } },
        y: { beginAtZero: true, ticks: { callback: format, maxTicksLimit: 5 } },
      },
      plugins: { legend: { display: false }, tooltip: { callbacks: { label: (c) => `${label}: ${format(c.parsed.y)}`, title: (items) => items.length ? new Date(items[0].parsed.x * 1000).toLocaleString() : "" } } },
    },
  });
}

// Dots while there are few samples (a line of two points says little); none when many.
function dots(c) { c.data.datasets[0].pointRadius = c.data.datasets[0].data.length < 60 ? 2 : 0; }

export async function render(panel, ctx) {
  const buttons = h("div", { class: "ranges", role: "group", "aria-label": "Time range" });
  const status = h("p", { class: "muted", role: "status" });
  const box = (title) => { const c = h("canvas", { role: "img", "aria-label": title }); return [c, h("figure", { class: "chart" }, h("figcaption", { text: title }), h("div", { class: "canvas" }, c))]; };
  const [cpuCanvas, cpuFig] = box("CPU (% of one core)");
  const [memCanvas, memFig] = box("Memory");
  const [plCanvas, plFig] = box("Players");
  panel.replaceChildren(buttons, status, h("div", { class: "charts" }, cpuFig, memFig, plFig));
  let Chart;
  try { Chart = await loadChartJs(); } catch (e) { status.textContent = e.message; return; }
  const cpu = chart(Chart, cpuCanvas, "CPU", "#0b6bcb", (v) => `${v < 10 ? v.toFixed(1) : Math.round(v)} %`);
  const mem = chart(Chart, memCanvas, "Memory", "#8250df", (v) => bytes(v));
  const pl = chart(Chart, plCanvas, "Players", "#1a7f37", (v) => String(Math.round(v)));
  const all = [[cpu, "cpu_percent"], [mem, "memory_bytes"], [pl, "players"]];
  let range = "1h";
  const load = async (name) => {
    range = name;
    for (const b of buttons.children) b.setAttribute("aria-pressed", String(b.dataset.range === name));
    const m = await api("GET", `/instances/${ctx.id}/metrics?since=${name}&points=240`);
    for (const [c, key] of all) {
      c.data.datasets[0].data = m.samples.map((s) => ({ x: s.ts, y: s[key] }));
      dots(c);
      c.options.scales.x.ticks.callback = clock(RANGES[name]);
      c.options.scales.x.min = Date.now() / 1000 - RANGES[name];
      c.options.scales.x.max = Date.now() / 1000;
      c.update();
    }
    status.textContent = m.samples.length ? "" : "No samples in this range yet: warlockd samples every few seconds while it runs.";
  };
  for (const name of Object.keys(RANGES)) {
    buttons.append(h("button", { type: "button", "data-range": name, onclick: () => load(name).catch((e) => { status.textContent = e.message; }) }, name));
  }
  on("sample", (s) => { // the last hour moves on live; longer ranges are redrawn on demand
    if (s.instance_id !== ctx.id || range !== "1h") return;
    const now = Date.now() / 1000;
    for (const [c, key] of all) {
      const data = c.data.datasets[0].data;
      data.push({ x: s.ts, y: s[key] });
      while (data.length && data[0].x < now - 3600) data.shift();
      dots(c);
      c.options.scales.x.min = now - 3600;
      c.options.scales.x.max = now;
      c.update("none");
    }
    status.textContent = "";
  });
  await load("1h");
}
