// CostHQ dashboard: a hash-routed single page over the JSON API. Charts: Chart.js (global `Chart`).
"use strict";

const $ = (sel, root = document) => root.querySelector(sel);
const esc = (v) => String(v ?? "").replace(/[&<>"']/g, (c) => ({ "&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&quot;", "'": "&#39;" })[c]);
const usd = (n) => (n == null ? "—" : n !== 0 && Math.abs(n) < 0.01 ? "$" + n.toFixed(4) : "$" + n.toLocaleString("en-US", { minimumFractionDigits: 2, maximumFractionDigits: 2 }));
const num = (n) => (n ?? 0).toLocaleString("en-US");
const dur = (s) => { s = Math.max(0, s | 0); const h = Math.floor(s / 3600), m = Math.floor((s % 3600) / 60); return h ? `${h}h ${m}m` : m ? `${m}m` : `${s}s`; };
const when = (iso) => (iso ? new Date(iso).toLocaleString() : "—");
const TZ = Intl.DateTimeFormat().resolvedOptions().timeZone || "UTC";
const COLORS = ["#6366f1", "#22c55e", "#f59e0b", "#ef4444", "#06b6d4", "#a855f7", "#84cc16", "#ec4899", "#14b8a6", "#f97316", "#94a3b8"];

// --- API access: CSRF token from the page (loopback) or the access token (remote mode) ---------
const csrf = $('meta[name="csrf-token"]')?.content;
const remote = $('meta[name="costhq-remote"]')?.content === "1";
const accessToken = (() => {
  const t = new URLSearchParams(location.search).get("token");
  if (t) sessionStorage.setItem("costhq-token", t);
  return sessionStorage.getItem("costhq-token");
})();
function withToken(url) { return remote && accessToken ? url + (url.includes("?") ? "&" : "?") + "token=" + encodeURIComponent(accessToken) : url; }
async function api(path, opts = {}) {
  const headers = { ...(opts.body ? { "Content-Type": "application/json" } : {}) };
  if (csrf) headers["X-CSRF-Token"] = csrf;
  if (remote && accessToken) headers["Authorization"] = "Bearer " + accessToken;
  const res = await fetch("/api/v1" + path, { ...opts, headers, body: opts.body && JSON.stringify(opts.body) });
  const data = res.headers.get("content-type")?.includes("json") ? await res.json() : null;
  if (!res.ok) throw new Error(data?.error?.message || res.statusText);
  return data;
}
const q = (params) => "?" + new URLSearchParams({ tz: TZ, ...params }).toString();

// --- Charts ----------------------------------------------------------------------------------
const charts = [];
function chart(id, config) {
  const canvas = document.getElementById(id);
  if (!canvas || typeof Chart === "undefined") return null;
  config.options = { responsive: true, maintainAspectRatio: false, animation: false, ...(config.options || {}) };
  const c = new Chart(canvas, config);
  charts.push(c);
  return c;
}
function clearCharts() { while (charts.length) charts.pop().destroy(); }
const card = (title, body, cls = "") => `<section class="card ${cls}"><h3>${title}</h3>${body}</section>`;
const canvas = (id) => `<div class="chart"><canvas id="${id}"></canvas></div>`;
const table = (cols, rows, id = "") => `<div class="table-wrap"><table ${id ? `id="${id}"` : ""}><thead><tr>${cols.map((c) => `<th>${c}</th>`).join("")}</tr></thead><tbody>${rows.join("") || `<tr><td colspan="${cols.length}" class="muted">Nothing yet</td></tr>`}</tbody></table></div>`;
const badge = (status) => `<span class="badge ${esc(status)}">${esc(status)}</span>`;
const sessionLink = (s) => `<a href="#/sessions/${s.id}">${esc(s.name)}</a>`;

// --- Pages -----------------------------------------------------------------------------------
const pages = {};

pages.overview = async (main) => {
  const o = await api("/overview" + q({ days: 30 }));
  const k = o.kpis, labels = o.daily.map((d) => d.date.slice(5));
  const kpi = (label, value, id) => `<div class="kpi" id="kpi-${id}"><span>${label}</span><b>${value}</b></div>`;
  main.innerHTML = `<h1>Overview</h1>
    <div class="kpis">${kpi("Sessions", num(k.totalSessions), "sessions")}${kpi("Total cost", usd(k.totalAiCost), "cost")}
    ${kpi("Total time", k.totalTimeFormatted, "time")}${kpi("Avg duration", k.avgDurationFormatted, "avg-duration")}
    ${kpi("Avg cost", usd(k.avgCost), "avg-cost")}${kpi("Files changed", num(k.filesChanged), "files")}${kpi("Commits", num(k.commits), "commits")}</div>
    <div class="grid">${card(`Daily cost (30 days) <small id="projection">avg ${usd(o.projection.avgDaily)}/day · projected month ${usd(o.projection.projectedMonth)}</small>`, canvas("chart-daily-cost"), "wide")}
    ${card("Daily tokens (prompt vs completion)", canvas("chart-daily-tokens"))}${card("Sessions per day", canvas("chart-sessions-per-day"))}
    ${card("Most expensive sessions", table(["Session", "Status", "Duration", "Cost"], o.mostExpensive.map((s) => `<tr><td>${sessionLink(s)}</td><td>${badge(s.status)}</td><td>${s.durationFormatted}</td><td>${usd(s.aiCost)}</td></tr>`), "top-sessions"))}
    ${card("Cost velocity ($/hr per session)", canvas("chart-velocity"))}
    ${card("Shareable stats card", `<div class="row"><select id="card-period"><option value="month">This month</option><option value="year">This year</option><option value="all">All time</option></select>
      <a id="card-download" class="button" download="costhq-stats.png" href="#">Download PNG</a></div><img id="card-preview" alt="stats card preview">`, "wide")}</div>`;
  chart("chart-daily-cost", { type: "line", data: { labels, datasets: [{ label: "Cost (USD)", data: o.daily.map((d) => d.cost), fill: true, borderColor: COLORS[0], backgroundColor: "rgba(99,102,241,.2)", tension: 0.3 }] } });
  chart("chart-daily-tokens", { type: "bar", data: { labels, datasets: [{ label: "Prompt", data: o.daily.map((d) => d.promptTokens), backgroundColor: COLORS[0] }, { label: "Completion", data: o.daily.map((d) => d.completionTokens), backgroundColor: COLORS[1] }] }, options: { scales: { x: { stacked: true }, y: { stacked: true } } } });
  chart("chart-sessions-per-day", { type: "bar", data: { labels, datasets: [{ label: "Sessions", data: o.daily.map((d) => d.sessions), backgroundColor: COLORS[4] }] } });
  chart("chart-velocity", { type: "bar", data: { labels: o.velocity.map((v) => "#" + v.id), datasets: [{ label: "$/hr", data: o.velocity.map((v) => v.costPerHour), backgroundColor: COLORS[2] }] } });
  const period = $("#card-period"), link = $("#card-download"), img = $("#card-preview");
  const setCard = () => { const url = withToken("/api/v1/card.png" + q({ period: period.value })); link.href = url; img.src = url; };
  period.onchange = setCard; setCard();
};

const sessionState = { search: "", status: "", sort: "startTime", order: "desc", page: 1 };
pages.sessions = async (main, id) => {
  if (id) return sessionDetail(main, id);
  const st = sessionState;
  const data = await api("/sessions" + q({ search: st.search, status: st.status, sort: st.sort, order: st.order, page: st.page, perPage: 25 }));
  const cols = [["name", "Session"], [null, "Status"], ["startTime", "Started"], ["duration", "Duration"], ["aiCost", "Cost"], ["costPerHour", "Cost/hr"], ["aiTokens", "Tokens"], ["filesChanged", "Files"], ["commits", "Commits"]];
  const head = cols.map(([key, label]) => key ? `<a href="#" data-sort="${key}">${label}${st.sort === key ? (st.order === "desc" ? " ▾" : " ▴") : ""}</a>` : label);
  const rows = data.sessions.map((s) => `<tr><td>${sessionLink(s)}</td><td>${badge(s.status)}</td><td>${when(s.startTime)}</td><td>${s.durationFormatted}</td><td>${usd(s.aiCost)}</td><td>${usd(s.costPerHour)}</td><td>${num(s.aiTokens)}</td><td>${s.filesChanged}</td><td>${s.commits}</td></tr>`);
  main.innerHTML = `<h1>Sessions</h1><div class="row toolbar"><input id="search" type="search" placeholder="Search sessions…" value="${esc(st.search)}">
    <select id="status"><option value="">All statuses</option><option value="active">Active</option><option value="completed">Completed</option></select>
    <a class="button" href="${withToken("/api/v1/export?format=json")}" download>Export JSON</a><a class="button" href="${withToken("/api/v1/export?format=csv")}" download>Export CSV</a></div>
    ${table(head, rows, "sessions-table")}
    <div class="row pager"><button id="prev" ${st.page <= 1 ? "disabled" : ""}>‹ Prev</button><span id="page-info">Page ${data.page} of ${Math.max(1, data.pages)} · ${num(data.total)} sessions</span><button id="next" ${st.page >= data.pages ? "disabled" : ""}>Next ›</button></div>`;
  $("#status").value = st.status;
  const rerender = () => pages.sessions(main);
  $("#search").onchange = (e) => { st.search = e.target.value; st.page = 1; rerender(); };
  $("#status").onchange = (e) => { st.status = e.target.value; st.page = 1; rerender(); };
  $("#prev").onclick = () => { st.page--; rerender(); };
  $("#next").onclick = () => { st.page++; rerender(); };
  main.querySelectorAll("[data-sort]").forEach((a) => (a.onclick = (e) => { e.preventDefault(); const key = a.dataset.sort; st.order = st.sort === key && st.order === "desc" ? "asc" : "desc"; st.sort = key; rerender(); }));
};

async function sessionDetail(main, id) {
  const s = await api("/sessions/" + id);
  const prompt = s.aiUsage.reduce((a, u) => a + u.promptTokens + u.cacheReadTokens + u.cacheWriteTokens, 0), completion = s.aiUsage.reduce((a, u) => a + u.completionTokens, 0);
  const ratio = completion ? (prompt / completion).toFixed(2) + ":1" : "—";
  const stat = (label, value, key) => `<div class="kpi" id="stat-${key}"><span>${label}</span><b>${value}</b></div>`;
  const lines = {
    file: (e) => `📄 <b>${esc(e.changeType)}</b> ${esc(e.filePath)}`,
    commit: (e) => `🔀 <code>${esc(e.hash.slice(0, 7))}</code> ${esc(e.message)}`,
    ai: (e) => `🤖 ${esc(e.provider)}/${esc(e.model)} · ${num(e.tokens)} tokens · ${usd(e.cost)}`,
    note: (e) => `📝 ${esc(e.message)}`,
  };
  const line = (e) => lines[e.type](e);
  const tabs = {
    timeline: `<ol class="timeline">${s.timeline.map((e) => `<li class="${e.type}"><time>${when(e.timestamp)}</time> ${line(e)}</li>`).join("") || "<li class='muted'>No events yet</li>"}</ol>`,
    files: table(["File", "Change", "When"], s.files.map((f) => `<tr><td>${esc(f.filePath)}</td><td>${esc(f.changeType)}</td><td>${when(f.timestamp)}</td></tr>`)),
    commits: table(["Hash", "Message", "Author", "When"], s.commits.map((c) => `<tr><td><code>${esc(c.hash.slice(0, 7))}</code></td><td>${esc(c.message)}</td><td>${esc(c.author)}</td><td>${when(c.timestamp)}</td></tr>`)),
    ai: table(["Model", "Prompt", "Completion", "Cost", "Source", "Agent", "When"], s.aiUsage.map((u) => `<tr><td>${esc(u.provider)}/${esc(u.model)}</td><td>${num(u.promptTokens)}</td><td>${num(u.completionTokens)}</td><td>${usd(u.cost)}</td><td>${esc(u.priceSource)}</td><td>${esc(u.agentName)}</td><td>${when(u.timestamp)}</td></tr>`)),
    notes: table(["Note", "When"], s.annotations.map((a) => `<tr><td>${esc(a.message)}</td><td>${when(a.timestamp)}</td></tr>`)),
  };
  const names = { timeline: "Timeline", files: "Files", commits: "Commits", ai: "AI Calls", notes: "Notes" };
  main.innerHTML = `<p><a href="#/sessions">‹ All sessions</a></p><h1 id="session-title">${esc(s.name)} ${badge(s.status)}</h1>
    <div class="kpis">${stat("Duration", s.durationFormatted, "duration")}${stat("Cost", usd(s.aiCost), "cost")}${stat("Cost/hr", usd(s.costPerHour), "cost-per-hour")}
    ${stat("Tokens", num(s.aiTokens), "tokens")}${stat("Prompt:completion", ratio, "ratio")}${stat("Files", s.filesChanged, "files")}${stat("Commits", s.commitCount, "commits")}</div>
    <dl class="meta"><dt>Working directory</dt><dd>${esc(s.workingDirectory)}</dd><dt>Git root</dt><dd>${esc(s.gitRoot || "—")}</dd>
    <dt>Branch</dt><dd>${esc(s.branch || "—")}</dd><dt>Start HEAD</dt><dd><code>${esc(s.startGitHead || "—")}</code></dd>
    <dt>Started</dt><dd>${when(s.startTime)}</dd><dt>Ended</dt><dd>${when(s.endTime)}</dd><dt>Notes</dt><dd>${esc(s.notes || "—")}</dd></dl>
    <div class="tabs" role="tablist">${Object.keys(tabs).map((t) => `<button role="tab" data-tab="${t}">${names[t]}</button>`).join("")}</div><div id="tab-body"></div>`;
  const show = (t) => { $("#tab-body").innerHTML = tabs[t]; main.querySelectorAll("[data-tab]").forEach((b) => b.classList.toggle("on", b.dataset.tab === t)); view.tab = t; };
  main.querySelectorAll("[data-tab]").forEach((b) => (b.onclick = () => show(b.dataset.tab)));
  show(view.tab && tabs[view.tab] ? view.tab : "timeline");
}

pages.models = async (main) => {
  const d = await api("/models");
  const top = d.models.slice(0, 10);
  main.innerHTML = `<h1>Models &amp; Providers</h1><div class="grid">
    ${card("Cost by model", canvas("chart-model-cost"))}${card("Token usage by model (top 10)", canvas("chart-model-tokens"))}
    ${card("Providers", table(["Provider", "Models", "Calls", "Tokens", "Cost", "Avg cost/call"], d.providers.map((p) => `<tr><td>${esc(p.provider)}</td><td>${p.models}</td><td>${num(p.calls)}</td><td>${num(p.totalTokens)}</td><td>${usd(p.cost)}</td><td>${usd(p.avgCostPerCall)}</td></tr>`), "providers-table"), "wide")}
    ${card("Prompt:completion ratio", table(["Model", "Ratio", "Distribution"], d.models.map((m) => { const p = m.promptTokens + m.completionTokens || 1; return `<tr><td>${esc(m.model)}</td><td>${m.promptCompletionRatio ?? "—"}${m.promptCompletionRatio != null ? ":1" : ""}</td><td><div class="dist" title="prompt ${num(m.promptTokens)} / completion ${num(m.completionTokens)}"><i style="width:${(100 * m.promptTokens) / p}%"></i></div></td></tr>`; })), "wide")}
    ${card("All models", table(["Provider", "Model", "Calls", "Prompt", "Completion", "Cost", "Avg cost/call"], d.models.map((m) => `<tr><td>${esc(m.provider)}</td><td>${esc(m.model)}</td><td>${num(m.calls)}</td><td>${num(m.promptTokens)}</td><td>${num(m.completionTokens)}</td><td>${usd(m.cost)}</td><td>${usd(m.avgCostPerCall)}</td></tr>`), "models-table"), "wide")}</div>`;
  chart("chart-model-cost", { type: "pie", data: { labels: d.models.map((m) => m.model), datasets: [{ data: d.models.map((m) => m.cost), backgroundColor: COLORS }] } });
  chart("chart-model-tokens", { type: "bar", data: { labels: top.map((m) => m.model), datasets: [{ label: "Prompt", data: top.map((m) => m.promptTokens), backgroundColor: COLORS[0] }, { label: "Completion", data: top.map((m) => m.completionTokens), backgroundColor: COLORS[1] }] }, options: { indexAxis: "y", scales: { x: { stacked: true }, y: { stacked: true } } } });
};

pages.local = async (main) => {
  const d = await api("/hardware");
  const c = d.compute, rate = (n) => "$" + n + "/h";
  const groups = (rows, id) => table(["Name", "Calls", "Compute", "Hours", "Cost", "API cost", "API-equivalent"], rows.map((g) => `<tr><td>${esc(g.name)}</td><td>${num(g.calls)}</td><td>${esc(g.computeFormatted)}</td><td>${g.computeHours.toFixed(4)}</td><td>${usd(g.cost)}</td><td>${usd(g.apiCost)}</td><td>${usd(g.apiEquivalentCost)}</td></tr>`), id);
  main.innerHTML = `<h1>Local Models &amp; Hardware</h1>
    <p class="muted">Local, edge and private models (Ollama, vLLM, llama.cpp) are priced by compute time x the hourly rate of the hardware they run on: their API cost is $0. Register one with <code>cs local add MODEL --runtime ollama --hardware PRESET</code>.</p>
    <div class="kpis"><div class="kpi" id="kpi-local-hours"><span>Compute hours</span><b>${c.computeHours.toFixed(2)}</b></div><div class="kpi" id="kpi-local-cost"><span>Compute cost</span><b>${usd(c.cost)}</b></div><div class="kpi" id="kpi-local-calls"><span>Local calls</span><b>${num(c.calls)}</b></div><div class="kpi" id="kpi-local-equivalent"><span>API-equivalent</span><b>${usd(c.apiEquivalentCost)}</b></div></div>
    <div class="grid">
    ${card("Compute by hardware tier", canvas("chart-local-hours") + groups(c.byHardware, "compute-hardware"), "wide")}
    ${card("Compute by model", groups(c.byModel, "compute-models"), "wide")}
    ${card("Local models", table(["Model", "Runtime", "Hardware", "Proxy path", "Base URL", "API-equivalent", "Calls", "Compute cost"], d.localModels.map((m) => `<tr><td>${esc(m.name)}</td><td>${esc(m.runtime)}</td><td>${esc(m.hardware)}</td><td>${esc(m.proxyPath || "—")}</td><td>${esc(m.baseUrl || "—")}</td><td>${esc(m.apiEquivalent || "—")}</td><td>${num(m.calls)}</td><td>${usd(m.cost)}</td></tr>`), "local-models"), "wide")}
    ${card("Hardware presets", `<form id="preset-form" class="row"><input name="name" placeholder="preset name" required><input name="usdPerHour" type="number" step="any" min="0" placeholder="USD / hour" required><input name="description" placeholder="description (optional)"><button>Save preset</button></form>
      ${table(["Preset", "Description", "USD / hour", "Source", ""], d.presets.map((p) => `<tr><td style="white-space:nowrap">${esc(p.name)}</td><td>${esc(p.description)}</td><td>${esc(rate(p.usdPerHour))}</td><td class="muted" style="white-space:normal">${esc(p.source)}</td><td style="white-space:nowrap"><button data-edit-preset="${esc(p.name)}">Edit</button> <button class="danger" data-remove-preset="${esc(p.name)}">Remove</button></td></tr>`), "hardware-table")}`, "wide")}</div>`;
  chart("chart-local-hours", { type: "bar", data: { labels: c.byHardware.map((g) => g.name), datasets: [{ label: "Compute hours", data: c.byHardware.map((g) => g.computeHours), backgroundColor: COLORS[0] }] } });
  const form = $("#preset-form");
  form.onsubmit = async (e) => {
    e.preventDefault();
    const f = new FormData(form), body = { name: f.get("name"), usdPerHour: f.get("usdPerHour") };
    if (f.get("description")) body.description = f.get("description");
    await guarded(() => api("/hardware", { method: "PUT", body }));
    pages.local(main);
  };
  main.querySelectorAll("[data-remove-preset]").forEach((b) => (b.onclick = async () => { await guarded(() => api("/hardware/" + encodeURIComponent(b.dataset.removePreset), { method: "DELETE" })); pages.local(main); }));
  main.querySelectorAll("[data-edit-preset]").forEach((b) => (b.onclick = () => { const p = d.presets.find((x) => x.name === b.dataset.editPreset); form.name.value = p.name; form.usdPerHour.value = p.usdPerHour; form.description.value = p.description; form.usdPerHour.focus(); }));
};

pages.pricing = async (main) => {
  const d = await api("/pricing");
  const search = view.priceSearch || "";
  const builtins = d.builtIn.filter((b) => !search || (b.provider + "/" + b.model).toLowerCase().includes(search.toLowerCase())).slice(0, 200);
  main.innerHTML = `<h1>Cloud Pricing</h1><div class="grid">
    ${card("Custom overrides (USD per 1M tokens)", `<form id="price-form" class="row"><input name="provider" placeholder="provider (optional)"><input name="model" placeholder="model" required>
      <input name="inputPer1M" type="number" step="any" min="0" placeholder="input /1M" required><input name="outputPer1M" type="number" step="any" min="0" placeholder="output /1M" required><button>Save override</button></form>
      ${table(["Model", "Input/1M", "Output/1M", ""], d.custom.map((c) => `<tr><td>${esc(c.model)}</td><td>${usd(c.inputPer1M)}</td><td>${usd(c.outputPer1M)}</td><td><button data-edit="${esc(c.model)}">Edit</button> <button class="danger" data-remove="${esc(c.model)}">Remove</button></td></tr>`), "custom-prices")}`, "wide")}
    ${card(`Built-in prices <small>${d.builtIn.length} models</small>`, `<input id="price-search" type="search" placeholder="Filter models…" value="${esc(search)}">${table(["Provider", "Model", "Input/1M", "Output/1M", "Cache read/1M"], builtins.map((b) => `<tr><td>${esc(b.provider)}</td><td>${esc(b.model)}</td><td>${usd(b.inputPer1M)}</td><td>${usd(b.outputPer1M)}</td><td>${usd(b.cacheReadPer1M)}</td></tr>`), "builtin-prices")}`, "wide")}</div>`;
  const form = $("#price-form");
  form.onsubmit = async (e) => {
    e.preventDefault();
    const f = new FormData(form), body = { model: f.get("model"), inputPer1M: f.get("inputPer1M"), outputPer1M: f.get("outputPer1M") };
    if (f.get("provider")) body.provider = f.get("provider");
    await guarded(() => api("/pricing", { method: "PUT", body }));
    pages.pricing(main);
  };
  main.querySelectorAll("[data-remove]").forEach((b) => (b.onclick = async () => { await guarded(() => api("/pricing?model=" + encodeURIComponent(b.dataset.remove), { method: "DELETE" })); pages.pricing(main); }));
  main.querySelectorAll("[data-edit]").forEach((b) => (b.onclick = () => { const c = d.custom.find((x) => x.model === b.dataset.edit); form.model.value = c.model; form.inputPer1M.value = c.inputPer1M; form.outputPer1M.value = c.outputPer1M; form.model.focus(); }));
  $("#price-search").onchange = (e) => { view.priceSearch = e.target.value; pages.pricing(main); };
};

pages.insights = async (main) => {
  const d = await api("/insights" + q({}));
  const maxChurn = Math.max(1, ...d.hotspots.map((h) => h.changes)), maxCell = Math.max(1, ...d.heatmap.grid.flat());
  const heat = d.heatmap.grid.map((row, i) => `<div class="hm-label">${d.heatmap.days[i]}</div>${row.map((n, h) => `<div class="hm-cell" title="${d.heatmap.days[i]} ${h}:00 — ${n} sessions" style="opacity:${n ? 0.15 + (0.85 * n) / maxCell : 0.06}"></div>`).join("")}`).join("");
  main.innerHTML = `<h1>Insights</h1><div class="grid">
    ${card("File hotspots", table(["File", "Sessions", "Changes", "Churn"], d.hotspots.map((h) => `<tr><td>${esc(h.path)}</td><td>${h.sessions}</td><td>${h.changes}</td><td><div class="bar"><i style="width:${(100 * h.changes) / maxChurn}%"></i></div></td></tr>`), "hotspots"), "wide")}
    ${card("Activity heatmap (sessions by weekday and hour)", `<div class="heatmap" id="heatmap"><div></div>${[...Array(24).keys()].map((h) => `<div class="hm-hour">${h % 3 ? "" : h}</div>`).join("")}${heat}</div>`, "wide")}
    ${card("Projects", table(["Project", "Sessions", "Cost", "Duration", "Files", "Commits", "Tokens"], d.projects.map((p) => `<tr><td>${esc(p.path)}</td><td>${p.sessions}</td><td>${usd(p.cost)}</td><td>${p.durationFormatted}</td><td>${p.files}</td><td>${p.commits}</td><td>${num(p.tokens)}</td></tr>`), "projects"), "wide")}
    ${card("Cost by project", canvas("chart-projects"), "wide")}</div>`;
  chart("chart-projects", { type: "bar", data: { labels: d.projects.map((p) => p.path.split("/").pop() || p.path), datasets: [{ label: "Cost (USD)", data: d.projects.map((p) => p.cost), backgroundColor: COLORS[5] }] } });
};

// --- Team (issue 16): spend by user, machine and project, with filters -----------------------
const teamState = { user: "", machine: "", project: "", since: "", until: "" };
pages.team = async (main) => {
  const st = teamState, chosen = Object.fromEntries(Object.entries(st).filter(([, v]) => v));
  const d = await api("/team" + q(chosen)), t = d.totals;
  const options = (name, list, all) => `<select name="${name}" id="team-${name}"><option value="">${all}</option>${list.map((v) => `<option value="${esc(v)}" ${v === st[name] ? "selected" : ""}>${esc(v || "—")}</option>`).join("")}</select>`;
  const kpi = (label, value, id) => `<div class="kpi" id="team-kpi-${id}"><span>${label}</span><b>${value}</b></div>`;
  clearCharts();
  const groups = (rows, label, id) => table([label, "Sessions", "Active", "Time", "AI calls", "Tokens", "Cost"], rows.map((g) => `<tr><td>${esc(g.key || "—")}</td><td>${g.totalSessions}</td><td>${g.activeSessions}</td><td>${g.totalTimeFormatted}</td><td>${num(g.aiCalls)}</td><td>${num(g.totalAiTokens)}</td><td>${usd(g.totalAiCost)}</td></tr>`), id);
  main.innerHTML = `<h1>Team</h1><form id="team-filters" class="row toolbar">${options("user", d.users, "All users")}${options("machine", d.machines, "All machines")}${options("project", d.projects, "All projects")}
    <label>From <input type="date" name="since" value="${esc(st.since)}"></label><label>to <input type="date" name="until" value="${esc(st.until)}"></label><button type="button" id="team-clear">Clear filters</button></form>
    <div class="kpis">${kpi("Sessions", num(t.totalSessions), "sessions")}${kpi("Total cost", usd(t.totalAiCost), "cost")}${kpi("AI calls", num(t.aiCalls), "calls")}${kpi("Tokens", num(t.totalAiTokens), "tokens")}${kpi("Time", t.totalTimeFormatted, "time")}</div>
    <div class="grid">${card("Cost by user", canvas("chart-team-users"))}${card("Cost by machine", canvas("chart-team-machines"))}
    ${card("By user", groups(d.byUser, "User", "team-users"), "wide")}${card("By machine", groups(d.byMachine, "Machine", "team-machines"), "wide")}${card("By project", groups(d.byProject, "Project", "team-projects"), "wide")}</div>`;
  const bar = (id, rows, color) => chart(id, { type: "bar", data: { labels: rows.map((g) => g.key || "—"), datasets: [{ label: "Cost (USD)", data: rows.map((g) => g.totalAiCost), backgroundColor: color }] } });
  bar("chart-team-users", d.byUser, COLORS[0]);
  bar("chart-team-machines", d.byMachine, COLORS[4]);
  $("#team-filters").onchange = (e) => { st[e.target.name] = e.target.value; pages.team(main).catch((err) => toast(err.message)); };
  $("#team-clear").onclick = () => { Object.keys(st).forEach((k) => (st[k] = "")); pages.team(main); };
  main.dataset.team = JSON.stringify(chosen);  // what the shown figures are filtered by (tests wait on it)
};

// --- Alerts: rules, progress bars, alarm mode (notification + WebAudio beep) ------------------
const alarm = { on: localStorage.getItem("costhq-alarm") === "1", notified: new Set() };
function beep() {
  try { const ctx = new AudioContext(), o = ctx.createOscillator(), g = ctx.createGain(); o.frequency.value = 880; g.gain.value = 0.15; o.connect(g).connect(ctx.destination); o.start(); o.stop(ctx.currentTime + 0.35); } catch { /* audio unavailable */ }
}
function raiseAlarms(rules) {
  if (!alarm.on) return;
  for (const r of rules.filter((r) => r.exceeded && !alarm.notified.has(r.id))) {
    alarm.notified.add(r.id); beep();
    if ("Notification" in window && Notification.permission === "granted") new Notification("CostHQ budget exceeded", { body: `${r.scope} limit ${usd(r.limit)} — spent ${usd(r.spent)}` });
  }
}
pages.alerts = async (main) => {
  const d = await api("/alerts");
  const sessions = d.rules.filter((r) => r.scope === "session" && r.exceeded);
  main.innerHTML = `<h1>Alerts</h1><div class="row badges"><span class="badge" id="badge-active">${d.activeRules} active rules</span><span class="badge warn" id="badge-alarms">${d.alarms} alarms</span><span class="badge over" id="badge-triggered">${d.triggered} triggered</span>
    <label class="switch"><input type="checkbox" id="alarm-mode" ${alarm.on ? "checked" : ""}> Alarm mode (notification + sound)</label></div>
    <div class="grid">${card("New threshold", `<form id="alert-form" class="row"><select name="scope"><option value="daily">Daily</option><option value="total">Total</option><option value="session">Per session</option><option value="weekly">Weekly</option><option value="monthly">Monthly</option></select>
      <input name="limit" type="number" step="any" min="0.01" placeholder="limit USD" required><input name="sessionId" type="number" min="1" placeholder="session id (per session)">
      <select name="action"><option value="warn">Warn</option><option value="block">Block (firewall)</option></select><button>Add rule</button></form>`, "wide")}
    ${card("Rules", `<div id="rules">${d.rules.map((r) => `<div class="rule ${r.exceeded ? "over" : ""}"><div class="row"><b>${esc(r.scope)}${r.sessionId ? " #" + r.sessionId : ""}</b> ${usd(r.spent)} of ${usd(r.limit)} <span class="badge ${r.action}">${r.action}</span><button class="danger" data-del="${r.id}">Delete</button></div><div class="bar"><i style="width:${Math.min(100, r.percent)}%"></i></div></div>`).join("") || "<p class='muted'>No thresholds yet</p>"}</div>`, "wide")}
    ${card("Sessions over limit", table(["Session", "Spent", "Limit"], sessions.map((r) => `<tr><td><a href="#/sessions/${r.sessionId}">#${r.sessionId}</a></td><td>${usd(r.spent)}</td><td>${usd(r.limit)}</td></tr>`), "over-limit"), "wide")}</div>`;
  $("#alarm-mode").onchange = async (e) => { alarm.on = e.target.checked; localStorage.setItem("costhq-alarm", alarm.on ? "1" : "0"); if (alarm.on && "Notification" in window) await Notification.requestPermission(); raiseAlarms(d.rules); };
  $("#alert-form").onsubmit = async (e) => {
    e.preventDefault();
    const f = new FormData(e.target), body = { scope: f.get("scope"), limit: f.get("limit"), action: f.get("action") };
    if (body.scope === "session") body.sessionId = Number(f.get("sessionId"));
    await guarded(() => api("/alerts", { method: "POST", body }));
    pages.alerts(main);
  };
  main.querySelectorAll("[data-del]").forEach((b) => (b.onclick = async () => { await guarded(() => api("/alerts/" + b.dataset.del, { method: "DELETE" })); pages.alerts(main); }));
  raiseAlarms(d.rules);
};

// --- Router, Start Fresh, live refresh -------------------------------------------------------
const view = { page: "overview", id: null, tab: null };
async function guarded(fn) { try { return await fn(); } catch (err) { toast(err.message); throw err; } }
function toast(text) { const t = document.createElement("div"); t.className = "toast"; t.textContent = text; document.body.append(t); setTimeout(() => t.remove(), 4000); }
async function render() {
  const [, page = "overview", id = null] = location.hash.split("/");
  if (page !== view.page || id !== view.id) view.tab = null;
  Object.assign(view, { page: pages[page] ? page : "overview", id });
  document.querySelectorAll("nav a").forEach((a) => a.classList.toggle("on", a.dataset.page === view.page));
  clearCharts();
  const main = $("#main");
  try { await pages[view.page](main, id); main.dataset.ready = view.page; } catch (err) { main.innerHTML = `<p class="error">${esc(err.message)}</p>`; }
}
$("#fresh-btn").onclick = () => $("#fresh-modal").showModal();
$("#fresh-modal").addEventListener("close", async () => {
  if ($("#fresh-modal").returnValue !== "confirm") return;
  const r = await guarded(() => api("/reset", { method: "POST", body: { confirm: "RESET" } }));
  toast(`Deleted ${r.deleted.sessions} sessions, ${r.deleted.aiUsage} AI calls`);
  render();
});
function live() {
  if (!window.EventSource) return;
  const es = new EventSource(withToken("/api/v1/events"));
  let first = true;
  es.addEventListener("change", (e) => {
    const data = JSON.parse(e.data);
    $("#live").classList.toggle("on", true);
    $("#live").title = `${data.active.length} active session(s)`;
    if (first) { first = false; return; }
    const showing = view.page === "overview" || (view.page === "sessions" && (!view.id || data.active.some((s) => String(s.id) === view.id))) || view.page === "alerts";
    if (showing) render();
  });
  es.onerror = () => $("#live").classList.remove("on");
}
window.addEventListener("hashchange", render);
window.addEventListener("DOMContentLoaded", () => { render(); live(); });
