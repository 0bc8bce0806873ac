import Crypto
import Foundation

/// `GET /`: the web dashboard — one page, no CDN, no third-party code: our own small SVG charts.
/// The token is typed in (or passed in the URL fragment, which never reaches a server) and kept in
/// sessionStorage. Every figure carries its raw value in `data-value` (the browser test compares
/// them with the API's JSON).
enum DashboardPage {
    /// The page's Content-Security-Policy: its one inline script by its SHA-256 (nothing else
    /// runs), its inline styles, data: images (none today), requests to this origin only; it may
    /// not be framed, submit forms or change its base URL.
    static let contentSecurityPolicy: String = {
        let open = html.range(of: "<script>")!, close = html.range(of: "</script>")!
        let script = Array(html[open.upperBound..<close.lowerBound].utf8)
        let hash = Data(SHA256.hash(data: script)).base64EncodedString()
        return "default-src 'none'; script-src 'sha256-\(hash)'; style-src 'unsafe-inline'; img-src 'self' data:; connect-src 'self'; "
            + "frame-ancestors 'none'; base-uri 'none'; form-action 'none'"
    }()

    static let html = #"""
<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>Wakala Stream — dashboard</title>
<style>
:root { --ink:#1d2733; --muted:#5f6b7a; --line:#e3e7ec; --bg:#f6f7f9; --card:#fff; --accent:#0b7a5a; --accent2:#d9822b; --bad:#b3261e; }
* { box-sizing: border-box; }
body { margin:0; font:15px/1.4 system-ui, -apple-system, "Segoe UI", Roboto, sans-serif; color:var(--ink); background:var(--bg); }
header { background:var(--accent); color:#fff; padding:10px 14px; display:flex; flex-wrap:wrap; gap:8px; align-items:center; }
header h1 { font-size:17px; margin:0 12px 0 0; }
header input, header select, header button { font:inherit; padding:6px 8px; border-radius:6px; border:1px solid #ffffff66; }
header input[type=password] { flex:1 1 160px; min-width:0; }
header button { background:#fff; color:var(--accent); border:0; font-weight:600; cursor:pointer; }
main { padding:12px; display:grid; gap:12px; grid-template-columns:repeat(auto-fit, minmax(300px, 1fr)); max-width:1280px; margin:0 auto; }
section { background:var(--card); border:1px solid var(--line); border-radius:10px; padding:12px; min-width:0; }
section h2 { font-size:14px; margin:0 0 8px; color:var(--muted); font-weight:600; text-transform:uppercase; letter-spacing:.03em; }
.tiles { display:grid; grid-template-columns:repeat(2, minmax(0,1fr)); gap:8px; }
.tile { background:var(--bg); border-radius:8px; padding:8px; min-width:0; }
.tile b { display:block; font-size:20px; overflow-wrap:anywhere; }
.tile span { font-size:12px; color:var(--muted); }
.wide { grid-column:1 / -1; }
#status { padding:6px 14px; font-size:13px; color:var(--muted); }
#status.err { color:var(--bad); }
table { width:100%; border-collapse:collapse; font-size:13px; }
td, th { padding:4px 2px; border-bottom:1px solid var(--line); text-align:right; }
td:first-child, th:first-child { text-align:left; overflow-wrap:anywhere; }
svg { width:100%; height:auto; display:block; }
#chart svg { max-height:300px; }
.bar { height:10px; background:var(--line); border-radius:5px; overflow:hidden; }
.bar i { display:block; height:100%; background:var(--accent); }
.bar i.warn { background:var(--accent2); } .bar i.over { background:var(--bad); }
.custom { display:none; gap:6px; }
.custom.on { display:flex; flex-wrap:wrap; }
</style>
</head>
<body>
<header>
  <h1>Wakala Stream</h1>
  <input id="token" type="password" placeholder="Paste your dashboard token" autocomplete="off" aria-label="token">
  <select id="period" aria-label="period">
    <option value="today">Today</option><option value="7d" selected>7 days</option><option value="30d">30 days</option><option value="custom">Custom</option>
  </select>
  <select id="granularity" aria-label="granularity"><option value="hour">Hourly</option><option value="day" selected>Daily</option></select>
  <span class="custom" id="customRange"><input id="from" type="date" aria-label="from"><input id="to" type="date" aria-label="to (exclusive)"></span>
  <button id="go">Show</button>
</header>
<div id="status">Enter a token to see your figures.</div>
<main>
  <section class="wide"><h2>Live (refreshed every 5 s)</h2>
    <div class="tiles" style="grid-template-columns:repeat(auto-fit,minmax(140px,1fr))">
      <div class="tile"><b id="live-active_orders" data-value="">–</b><span>active orders</span></div>
      <div class="tile"><b id="live-revenue_today_cents" data-value="">–</b><span>revenue today</span></div>
      <div class="tile"><b id="live-active_drivers" data-value="">–</b><span>active drivers</span></div>
      <div class="tile"><b id="live-avg_delivery_seconds_today" data-value="">–</b><span>avg delivery today</span></div>
    </div>
  </section>
  <section class="wide"><h2>Sales <span id="range"></span></h2>
    <div class="tiles" style="grid-template-columns:repeat(auto-fit,minmax(140px,1fr))" id="sales"></div>
  </section>
  <section class="wide"><h2>Revenue and orders over time</h2><div id="chart"></div></section>
  <section><h2>Top products</h2><div id="products"></div></section>
  <section><h2>Payment success by gateway</h2><div id="payments"></div></section>
  <section><h2>Deliveries</h2><div class="tiles" id="deliveries"></div></section>
  <section><h2>WhatsApp messages by type</h2><div id="messages"></div></section>
  <section><h2>Quota usage</h2><div id="usage"></div></section>
</main>
<script>
"use strict";
const $ = (id) => document.getElementById(id);
const esc = (s) => String(s).replace(/[&<>"']/g, (c) => ({"&":"&amp;","<":"&lt;",">":"&gt;",'"':"&quot;","'":"&#39;"}[c]));
const rand = (c) => c == null ? "–" : "R " + (c / 100).toLocaleString("en-ZA", {minimumFractionDigits: 2, maximumFractionDigits: 2});
const num = (n) => n == null ? "–" : Number(n).toLocaleString("en-ZA");
const pct = (r) => r == null ? "–" : (r * 100).toFixed(1) + " %";
const secs = (s) => s == null ? "–" : (s >= 3600 ? (s / 3600).toFixed(1) + " h" : (s / 60).toFixed(1) + " min");
const tile = (id, v, text, label) => `<div class="tile"><b id="${id}" data-value="${esc(v == null ? "null" : v)}">${esc(text)}</b><span>${esc(label)}</span></div>`;

// The fragment may carry the token and a period (it never reaches a server).
const frag = new URLSearchParams(location.hash.slice(1));
if (frag.get("token")) sessionStorage.setItem("wakala-token", frag.get("token"));
$("token").value = sessionStorage.getItem("wakala-token") || "";
if (frag.get("granularity")) $("granularity").value = frag.get("granularity");
let fixed = null; // {from, to} RFC 3339 from the fragment
if (frag.get("from") && frag.get("to")) {
  fixed = {from: frag.get("from"), to: frag.get("to")}; $("period").value = "custom";
  $("from").value = fixed.from.slice(0, 10); $("to").value = fixed.to.slice(0, 10);
}
$("period").onchange = () => { $("customRange").classList.toggle("on", $("period").value === "custom"); fixed = null; };
$("customRange").classList.toggle("on", $("period").value === "custom");

async function api(path) {
  const token = $("token").value.trim();
  const r = await fetch(path, {headers: {Authorization: "Bearer " + token}});
  const body = await r.json().catch(() => ({error: {message: "HTTP " + r.status}}));
  if (!r.ok) throw new Error((body.error && body.error.message) || ("HTTP " + r.status));
  return body;
}
function status(text, err) { $("status").textContent = text; $("status").className = err ? "err" : ""; }

// Today's start in the tenant's timezone comes from /v1/live (day_start, with its offset);
// periods are whole local days ending with today.
function shiftDay(rfc, days) {
  const m = rfc.match(/^(\d{4})-(\d{2})-(\d{2})T[^+Z-]*(.*)$/);
  const d = new Date(Date.UTC(+m[1], +m[2] - 1, +m[3] + days));
  return d.toISOString().slice(0, 10) + "T00:00:00" + (m[4] || "Z");
}
function range(dayStart) {
  if (fixed) return fixed;
  const p = $("period").value;
  if (p === "custom") {
    const off = dayStart.match(/([+-]\d{2}:\d{2}|Z)$/)[1];
    return {from: $("from").value + "T00:00:00" + off, to: $("to").value + "T00:00:00" + off};
  }
  const days = p === "today" ? 1 : p === "7d" ? 7 : 30;
  return {from: shiftDay(dayStart, 1 - days), to: shiftDay(dayStart, 1)};
}

function chart(series, g) {
  const W = 640, H = 220, L = 46, R = 46, T = 10, B = 28, n = Math.max(series.length, 1);
  const maxRev = Math.max(1, ...series.map((s) => s.gross_revenue_cents));
  const maxOrd = Math.max(1, ...series.map((s) => s.orders));
  const x = (i) => L + (W - L - R) * (i + 0.5) / n, bw = Math.max(1, (W - L - R) / n * 0.7);
  let svg = `<svg viewBox="0 0 ${W} ${H}" role="img" aria-label="revenue and orders over time">`;
  for (let k = 0; k <= 4; k++) {
    const y = T + (H - T - B) * k / 4;
    svg += `<line x1="${L}" x2="${W - R}" y1="${y}" y2="${y}" stroke="#e3e7ec"/>`;
    svg += `<text x="${L - 4}" y="${y + 4}" font-size="10" text-anchor="end" fill="#0b7a5a">${esc(Math.round(maxRev / 100 * (4 - k) / 4).toLocaleString("en-ZA"))}</text>`;
    svg += `<text x="${W - R + 4}" y="${y + 4}" font-size="10" fill="#d9822b">${Math.round(maxOrd * (4 - k) / 4)}</text>`;
  }
  series.forEach((s, i) => {
    const h = (H - T - B) * s.gross_revenue_cents / maxRev;
    svg += `<rect class="bucket" data-bucket="${esc(s.bucket_start)}" data-orders="${s.orders}" data-revenue="${s.gross_revenue_cents}" x="${x(i) - bw / 2}" y="${H - B - h}" width="${bw}" height="${h}" fill="#0b7a5a" opacity=".8"><title>${esc(s.bucket_start)}: ${esc(rand(s.gross_revenue_cents))}, ${s.orders} orders</title></rect>`;
  });
  const pts = series.map((s, i) => `${x(i)},${H - B - (H - T - B) * s.orders / maxOrd}`).join(" ");
  svg += `<polyline points="${pts}" fill="none" stroke="#d9822b" stroke-width="2"/>`;
  const every = Math.ceil(n / 6);
  series.forEach((s, i) => { if (i % every === 0) svg += `<text x="${x(i)}" y="${H - 8}" font-size="10" text-anchor="middle" fill="#5f6b7a">${esc(g === "hour" ? s.bucket_start.slice(5, 13).replace("T", " ") + "h" : s.bucket_start.slice(5, 10))}</text>`; });
  return svg + `</svg><div style="font-size:12px;color:#5f6b7a"><span style="color:#0b7a5a">■</span> revenue (R) <span style="color:#d9822b">—</span> orders</div>`;
}
function bars(rows) { // [{label, value, text, id}]
  const max = Math.max(1, ...rows.map((r) => r.value));
  return rows.length ? `<table>${rows.map((r) => `<tr><td>${esc(r.label)}<div class="bar"><i style="width:${100 * r.value / max}%"></i></div></td><td id="${esc(r.id)}" data-value="${esc(r.raw)}">${esc(r.text)}</td></tr>`).join("")}</table>` : "<p>No data in this period.</p>";
}

async function refresh() {
  if (!$("token").value.trim()) { status("Enter a token to see your figures.", false); return; }
  sessionStorage.setItem("wakala-token", $("token").value.trim());
  try {
    status("Loading…", false);
    const live = await api("/v1/live");
    showLive(live);
    const g = $("granularity").value, r = range(live.day_start);
    const d = await api(`/v1/dashboard?from=${encodeURIComponent(r.from)}&to=${encodeURIComponent(r.to)}&granularity=${g}`);
    const s = d.sales;
    $("range").textContent = `${d.from.slice(0, 16).replace("T", " ")} → ${d.to.slice(0, 16).replace("T", " ")}`;
    $("sales").innerHTML = tile("sales-orders", s.orders, num(s.orders), "orders") + tile("sales-gross_revenue_cents", s.gross_revenue_cents, rand(s.gross_revenue_cents), "gross revenue")
      + tile("sales-net_revenue_cents", s.net_revenue_cents, rand(s.net_revenue_cents), "net revenue") + tile("sales-avg_order_value_cents", s.avg_order_value_cents, rand(s.avg_order_value_cents), "average order")
      + tile("sales-unique_customers", s.unique_customers, num(s.unique_customers), "customers") + tile("sales-new_customers", s.new_customers, num(s.new_customers), "new customers")
      + tile("sales-items_sold", s.items_sold, num(s.items_sold), "items sold") + tile("sales-completion_rate", s.completion_rate, pct(s.completion_rate), "completed")
      + tile("sales-cancelled_orders", s.cancelled_orders, num(s.cancelled_orders), "cancelled") + tile("sales-avg_fulfillment_seconds", s.avg_fulfillment_seconds, secs(s.avg_fulfillment_seconds), "avg fulfilment")
      + tile("sales-growth-orders", s.growth.orders, pct(s.growth.orders), "order growth") + tile("sales-growth-revenue", s.growth.revenue, pct(s.growth.revenue), "revenue growth");
    $("chart").innerHTML = chart(d.time_series, d.granularity);
    $("products").innerHTML = bars(d.top_products.map((p, i) => ({label: `${p.name || p.product_id} (${p.quantity})`, value: p.revenue_cents, raw: p.revenue_cents, text: rand(p.revenue_cents), id: "product-" + i})));
    $("payments").innerHTML = bars(d.payments.map((p, i) => ({label: `${p.gateway} · ${p.method} (${p.succeeded}/${p.succeeded + p.failed})`, value: p.success_rate || 0, raw: p.success_rate == null ? "null" : p.success_rate, text: pct(p.success_rate), id: "payment-" + i})));
    $("deliveries").innerHTML = tile("deliveries-completed", d.deliveries.completed, num(d.deliveries.completed), "completed") + tile("deliveries-avg_delivery_seconds", d.deliveries.avg_delivery_seconds, secs(d.deliveries.avg_delivery_seconds), "average time");
    $("messages").innerHTML = bars(Object.entries(d.messages).map(([t, c]) => ({label: t, value: c, raw: c, text: num(c), id: "messages-" + t})));
    const u = await api("/v1/usage");
    $("usage").innerHTML = u.resources.length ? `<table>${u.resources.map((x) => { const p = x.limit ? Math.min(100, 100 * x.used / x.limit) : 0; return `<tr><td>${esc(x.resource)}<div class="bar"><i class="${x.status === "exceeded" ? "over" : x.status === "warning" ? "warn" : ""}" style="width:${p}%"></i></div></td><td id="usage-${esc(x.resource)}" data-value="${esc(x.used)}">${esc(num(x.used))} / ${x.limit == null ? "∞" : num(x.limit)}</td></tr>`; }).join("")}</table>` : "<p>No usage recorded.</p>";
    status(`Tenant ${d.tenant_id} · ${u.tier} · updated ${new Date().toLocaleTimeString()}`, false);
    document.body.dataset.loaded = "1";
  } catch (e) { status(e.message, true); }
}
function showLive(l) {
  for (const [k, f] of [["active_orders", num], ["revenue_today_cents", rand], ["active_drivers", num], ["avg_delivery_seconds_today", secs]]) {
    const el = $("live-" + k); el.textContent = f(l[k]); el.dataset.value = l[k] == null ? "null" : l[k];
  }
}
$("go").onclick = refresh;
refresh();
setInterval(async () => { if ($("token").value.trim()) { try { showLive(await api("/v1/live")); } catch (e) { status(e.message, true); } } }, 5000);
</script>
</body>
</html>
"""#
}
