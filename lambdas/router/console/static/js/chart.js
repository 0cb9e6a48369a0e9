// A small hand-written SVG bar chart: the console needs one chart type (a count per time
// bucket), and ~60 lines of our own code weigh less than any charting library.

const NS = "http://www.w3.org/2000/svg";

function svg(tag, attrs, text) {
  const node = document.createElementNS(NS, tag);
  for (const [k, v] of Object.entries(attrs)) node.setAttribute(k, v);
  if (text !== undefined) node.textContent = text;
  return node;
}

// Group rows by minute (or hour for long ranges) and sum `field` (1 per row when absent).
export function bucketize(rows, field) {
  const times = rows.map((r) => Date.parse(r.created_at)).filter((t) => !Number.isNaN(t));
  if (!times.length) return [];
  const span = Math.max(...times) - Math.min(...times);
  const step = span > 6 * 3600e3 ? 3600e3 : 60e3;
  const sums = new Map();
  rows.forEach((r) => {
    const t = Date.parse(r.created_at);
    if (Number.isNaN(t)) return;
    const b = Math.floor(t / step) * step;
    sums.set(b, (sums.get(b) || 0) + (field ? Number(r[field] || 0) : 1));
  });
  return [...sums.entries()].sort((a, b) => a[0] - b[0]).map(([t, v]) => ({
    label: new Date(t).toLocaleTimeString([], { hour: "2-digit", minute: "2-digit" }),
    value: v,
  }));
}

export function barChart(container, points, { title = "", unit = "" } = {}) {
  const w = 640, h = 200, pad = 30;
  const chart = svg("svg", { viewBox: `0 0 ${w} ${h}`, role: "img", "aria-label": title, class: "bars" });
  const max = Math.max(1, ...points.map((p) => p.value));
  const bw = points.length ? (w - 2 * pad) / points.length : 0;
  chart.append(svg("text", { x: pad, y: 14, class: "title" }, `${title} (max ${max}${unit})`));
  points.forEach((p, i) => {
    const bh = ((h - 2 * pad) * p.value) / max;
    const x = pad + i * bw;
    const bar = svg("rect", { x: x + Math.max(2, (bw - 48) / 2), y: h - pad - bh, width: Math.max(1, Math.min(44, bw - 4)), height: bh, class: "bar", "data-value": p.value });
    bar.append(svg("title", {}, `${p.label}: ${p.value}${unit}`));
    chart.append(bar, svg("text", { x: x + bw / 2, y: h - pad + 14, "text-anchor": "middle", class: "axis" }, p.label));
  });
  chart.dataset.total = String(points.reduce((a, p) => a + p.value, 0));
  container.replaceChildren(chart);
  return chart;
}
