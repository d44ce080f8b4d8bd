// The admin UI: one page over the scheduler's own API. Every change goes through the same
// routes (and so the same rules) as curl; with the session cookie, each carries the session's
// CSRF token. Text from the server is only ever set as text, never parsed as HTML.
"use strict";

// `view` counts page changes: a refresh that finishes after the page changed writes nothing.
const state = { session: null, view: 0, timer: null, tick: null };
const REFRESH_MS = 1500;
const STATUSES = ["scheduled", "pending", "queued", "success", "failed", "timeout", "skipped"];

// ---------- DOM and formatting helpers ----------

function h(tag, attrs, ...children) {
  const node = document.createElement(tag);
  for (const [key, value] of Object.entries(attrs || {})) {
    if (value === null || value === undefined || value === false) continue;
    if (key.startsWith("on")) node.addEventListener(key.slice(2), value);
    else if (key === "class") node.className = value;
    else if (key === "style") node.style.cssText = value; // CSSOM: allowed by the CSP
    else node.setAttribute(key, value === true ? "" : value);
  }
  for (const child of children.flat(Infinity)) {
    if (child === null || child === undefined || child === false) continue;
    node.append(child instanceof Node ? child : document.createTextNode(String(child)));
  }
  return node;
}

function badge(text, kind) {
  return h("span", { class: "badge s-" + (kind || text) }, text);
}

function zone() {
  return (state.session && state.session.timezone) || "UTC";
}

function localTime(iso) {
  if (!iso) return "—";
  const format = new Intl.DateTimeFormat("sv-SE", {
    timeZone: zone(), year: "numeric", month: "2-digit", day: "2-digit",
    hour: "2-digit", minute: "2-digit", second: "2-digit",
  });
  return format.format(new Date(iso));
}

function relative(iso) {
  if (!iso) return "";
  const seconds = Math.round((new Date(iso).getTime() - Date.now()) / 1000);
  const size = Math.abs(seconds);
  let text;
  if (size < 60) text = size + " s";
  else if (size < 3600) text = Math.round(size / 60) + " min";
  else if (size < 86400) text = Math.round(size / 3600) + " h";
  else text = Math.round(size / 86400) + " d";
  return seconds >= 0 ? "in " + text : text + " ago";
}

function when(iso) {
  if (!iso) return "—";
  return h("span", { title: iso }, localTime(iso), h("br"), h("span", { class: "muted" }, relative(iso)));
}

function td(label, ...children) {
  return h("td", { "data-label": label }, ...children);
}

// ---------- talking to the API ----------

class ApiError extends Error {
  constructor(status, body) {
    super((body && body.message) || "HTTP " + status);
    this.status = status;
    this.body = body || {};
  }
}

async function api(method, path, body) {
  const headers = { Accept: "application/json" };
  if (method !== "GET") {
    headers["Content-Type"] = "application/json";
    if (state.session && state.session.csrf_token) headers["X-CSRF-Token"] = state.session.csrf_token;
  }
  const response = await fetch(path, {
    method, headers, credentials: "same-origin",
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  const text = await response.text();
  let data = null;
  if (text) {
    try { data = JSON.parse(text); } catch (_) { data = { message: text }; }
  }
  if (response.status === 401 && path !== "/ui/api/session") {
    state.session = null;
    showLogin("Your session ended; log in again.");
    throw new ApiError(401, data);
  }
  if (!response.ok) throw new ApiError(response.status, data);
  return data;
}

function query(params) {
  const pairs = Object.entries(params).filter(([, v]) => v !== "" && v !== null && v !== undefined);
  return pairs.length ? "?" + pairs.map(([k, v]) => k + "=" + encodeURIComponent(v)).join("&") : "";
}

// ---------- session ----------

function showScope() {
  const scope = state.session ? state.session.scope : "";
  const label = scope.toUpperCase();
  document.getElementById("scope").textContent = label || "…";
  document.body.className = scope ? "scope-" + scope : "";
  document.title = (label ? "[" + label + "] " : "") + "jennie-scheduler";
  const banner = document.getElementById("banner");
  const warnings = state.session ? state.session.warnings : [];
  banner.hidden = warnings.length === 0;
  banner.replaceChildren(...warnings.map((w) => h("div", {}, w)));
  const who = document.getElementById("who");
  who.textContent = state.session && state.session.logged_in ? "signed in as " + state.session.name : "";
  document.getElementById("logout").hidden = !(state.session && state.session.logged_in && state.session.auth_required);
}

async function loadSession() {
  state.session = await api("GET", "/ui/api/session");
  if (!state.session.logged_in && !state.session.auth_required) {
    // No token configured: a session still gives every change a CSRF token.
    state.session = await api("POST", "/ui/api/session", { name: "operator" });
  }
  showScope();
  return state.session.logged_in;
}

function showLogin(message) {
  stopRefresh();
  state.view += 1;
  showScope();
  const error = h("p", { id: "login-error", class: "form-error", role: "alert" }, message || "");
  const token = h("input", { id: "login-token", type: "password", autocomplete: "current-password", required: true });
  const name = h("input", { id: "login-name", type: "text", autocomplete: "username", placeholder: "operator" });
  const form = h("form", { class: "login panel", id: "login-form" },
    h("h1", {}, "Log in to the ", state.session ? state.session.scope.toUpperCase() : "", " scheduler"),
    h("p", { class: "muted" }, "Enter the API token of this instance (SCHEDULER_API_TOKEN). Your name goes into the audit log."),
    h("label", { for: "login-token" }, "API token"), token,
    h("label", { for: "login-name" }, "Your name"), name,
    h("div", { class: "actions" }, h("button", { class: "primary", id: "login-submit", type: "submit" }, "Log in")),
    error);
  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    try {
      state.session = await api("POST", "/ui/api/session", { token: token.value, name: name.value });
      showScope();
      route();
    } catch (e) {
      error.textContent = e.status === 401 ? "Wrong token." : e.message;
    }
  });
  document.getElementById("view").replaceChildren(form);
  token.focus();
}

// ---------- views ----------

function stopRefresh() {
  if (state.timer) clearInterval(state.timer);
  state.timer = null;
  state.tick = null;
}

function live(refresh) {
  stopRefresh();
  const view = state.view;
  let busy = false;
  const tick = async () => {
    if (document.hidden || busy || view !== state.view) return;
    busy = true;
    const footer = document.getElementById("live");
    try {
      await refresh(() => view === state.view);
      if (view !== state.view) return;
      document.getElementById("view").classList.remove("stale");
      footer.textContent = "live · updated " + new Date().toLocaleTimeString();
    } catch (e) {
      if (e.status === 401 || view !== state.view) return;
      // What is shown is no longer current: say so on the page, not only in the footer.
      document.getElementById("view").classList.add("stale");
      footer.textContent = "live · update failed, showing older data: " + e.message;
    } finally {
      busy = false;
    }
  };
  state.timer = setInterval(tick, REFRESH_MS);
  state.tick = tick;
  return tick();
}

function page(title, ...children) {
  const view = document.getElementById("view");
  view.replaceChildren(h("h1", {}, title), ...children);
  return view;
}

function statusBars(counts) {
  const shown = [["queued", "published"], ["success", "success"], ["failed", "failed"], ["timeout", "timeout"], ["skipped", "skipped"]];
  const max = Math.max(1, ...shown.map(([status]) => counts[status] || 0));
  return shown.map(([status, label]) =>
    h("div", { class: "bar", "data-status": status },
      h("span", { class: "lbl" }, badge(label, status)),
      h("span", { class: "track" }, h("span", { class: "fill", style: "width:" + (100 * (counts[status] || 0) / max) + "%" })),
      h("span", { class: "num" }, String(counts[status] || 0))));
}

function jobRows(jobs) {
  return jobs.map((job) => {
    const status = job.last_status ? badge(job.last_status) : h("span", { class: "muted" }, "never run");
    return h("tr", { "data-job": job.job_id },
      td("Job", h("a", { href: "#/job/" + encodeURIComponent(job.job_id) }, job.job_id),
        job.description ? h("div", { class: "muted" }, job.description) : null),
      td("Schedule", job.schedule_text, h("br"), h("code", {}, job.cron_expr || (job.interval_seconds ? "every " + job.interval_seconds + " s" : "—"))),
      td("Next due", job.enabled ? when(job.next_due_at) : badge("paused")),
      td("Last run", status, h("br"), h("span", { class: "muted" }, relative(job.last_run_at))),
      td("In flight", String(job.in_flight) + " / " + job.max_parallel),
      td("Enabled", job.enabled ? badge("enabled") : badge("paused")));
  });
}

function jobTable(jobs, id) {
  return h("table", { class: "stack", id },
    h("thead", {}, h("tr", {}, ["Job", "Schedule (" + zone() + ")", "Next due", "Last run", "In flight", "Enabled"].map((t) => h("th", {}, t)))),
    h("tbody", {}, jobRows(jobs)));
}

// Cluster mode (MariaDB): this instance, the partitions it holds and its live peers.
function clusterPanel(c) {
  if (!c || c.mode !== "cluster") {
    return h("div", { id: "cluster" }, h("h2", {}, "Instances"), h("p", { class: "muted" }, "One instance runs every job of this scope (SQLite)."));
  }
  const rows = (c.peers || []).map((p) => h("tr", {},
    h("td", { "data-label": "Instance" }, p.instance_id + (p.instance_id === c.instance_id ? " (this one)" : "")),
    h("td", { "data-label": "Partitions" }, String(p.partitions)),
    h("td", { "data-label": "Heartbeat" }, (p.heartbeat_age_ms / 1000).toFixed(1) + " s ago")));
  return h("div", { id: "cluster" },
    h("h2", {}, "Instances"),
    h("div", { class: "cards" },
      h("div", { class: "card" }, h("div", { class: "label" }, "This instance"), h("div", { class: "value" }, c.instance_id)),
      h("div", { class: "card" }, h("div", { class: "label" }, "Partitions held here"),
        h("div", { class: "value", id: "owned" }, c.owned.length + " of " + c.partitions),
        h("div", { class: "muted" }, c.owned.join(", ") || "none"),
        c.last_error ? h("div", { class: "muted" }, "lease round failed: " + c.last_error) : null)),
    h("table", { class: "stack", id: "peers" },
      h("thead", {}, h("tr", {}, ["Instance", "Partitions", "Heartbeat"].map((t) => h("th", {}, t)))),
      h("tbody", {}, rows)));
}

async function overviewView() {
  const body = h("div", {});
  page("Overview", body);
  return live(async (current) => {
    const o = await api("GET", "/ui/api/overview");
    if (!current()) return;
    const r = o.readiness;
    const upDown = (text) => badge(text.startsWith("up") ? "up" : "down", text.startsWith("up") ? "up" : "down");
    const card = (label, value, extra) => h("div", { class: "card" }, h("div", { class: "label" }, label), h("div", { class: "value" }, value), extra || null);
    const link = (label, count, filter) => h("a", { class: "card", href: "#/jobs" + query({ state: filter }) },
      h("div", { class: "label" }, label), h("div", { class: "value" }, String(count)));
    body.replaceChildren(
      h("div", { class: "cards", id: "health" },
        card("Scope", o.scope.toUpperCase()),
        card("Database", upDown(r.database), r.database.startsWith("up") ? null : h("div", { class: "muted" }, r.database)),
        card("Broker", upDown(r.broker), r.broker.startsWith("up") ? null : h("div", { class: "muted" }, r.broker)),
        card("Outbox", String(r.outbox), h("div", { class: "muted" }, "messages waiting for the broker")),
        card("State writes", r.state_writes.healthy ? badge("up") : badge("down"), h("div", { class: "muted" }, String(r.state_writes.buffered || 0) + " buffered"))),
      clusterPanel(r.cluster),
      h("h2", {}, "Jobs"),
      h("div", { class: "cards", id: "counts" },
        link("All", o.counts.all, ""), link("Failing", o.counts.failing, "failing"),
        link("Running", o.counts.running, "running"), link("Paused", o.counts.paused, "paused"),
        link("Enabled", o.counts.enabled, "enabled")),
      h("h2", {}, "Runs published and ended since " + localTime(o.runs_last_hour.since)),
      h("div", { class: "panel", id: "recent" }, statusBars(o.runs_last_hour.counts)),
      h("h2", {}, "Failing jobs"),
      o.failing.length ? jobTable(o.failing, "failing") : h("p", { class: "muted", id: "failing" }, "No job is failing."));
  });
}

async function jobsView(params) {
  const filters = {
    q: params.get("q") || "", state: params.get("state") || "", sort: params.get("sort") || "job_id",
    order: params.get("order") || "asc", page: Number(params.get("page") || 1),
  };
  const size = 50;
  // A filter change stays on this page (focus and typing are kept); the address follows it,
  // so a reload or a shared link shows the same list.
  const go = (changes) => {
    Object.assign(filters, changes);
    history.replaceState(null, "", "#/jobs" + query({ q: filters.q, state: filters.state, sort: filters.sort === "job_id" ? "" : filters.sort, order: filters.order === "asc" ? "" : filters.order, page: filters.page > 1 ? filters.page : "" }));
    if (state.tick) state.tick();
  };
  const text = h("input", { id: "filter-text", type: "search", value: filters.q, placeholder: "id, queue, cron, description", "aria-label": "Filter by text" });
  let typing;
  text.addEventListener("input", () => { clearTimeout(typing); typing = setTimeout(() => go({ q: text.value, page: 1 }), 300); });
  const select = (id, label, value, options, key) => {
    const node = h("select", { id, "aria-label": label, onchange: (e) => go({ [key]: e.target.value, page: 1 }) },
      options.map(([v, t]) => h("option", { value: v, selected: v === value }, t)));
    return h("label", {}, label, node);
  };
  const table = h("div", {});
  const pager = h("div", { class: "pager" });
  page("Jobs",
    h("div", { class: "toolbar" },
      h("label", {}, "Filter", text),
      select("filter-state", "State", filters.state, [["", "all"], ["failing", "failing"], ["running", "running"], ["paused", "paused"], ["enabled", "enabled"]], "state"),
      select("sort", "Sort by", filters.sort, [["job_id", "job id"], ["next_due_at", "next due"], ["last_run_at", "last run"], ["last_status", "last status"], ["queue", "queue"]], "sort"),
      select("order", "Order", filters.order, [["asc", "ascending"], ["desc", "descending"]], "order"),
      h("a", { href: "#/new" }, "New job")),
    table, pager);
  document.addEventListener("keydown", slashFocus);
  return live(async (current) => {
    const data = await api("GET", "/ui/api/jobs" + query({ q: filters.q, state: filters.state, sort: filters.sort, order: filters.order, offset: (filters.page - 1) * size, limit: size }));
    if (!current()) return;
    table.replaceChildren(data.jobs.length ? jobTable(data.jobs, "jobs") : h("p", { class: "muted", id: "jobs" }, "No job matches."));
    const first = data.total ? data.offset + 1 : 0;
    const last = data.offset + data.jobs.length;
    pager.replaceChildren(
      h("button", { type: "button", id: "prev", disabled: filters.page <= 1, onclick: () => go({ page: filters.page - 1 }) }, "← Previous"),
      h("span", { id: "range" }, first + "–" + last + " of " + data.total),
      h("button", { type: "button", id: "next", disabled: last >= data.total, onclick: () => go({ page: filters.page + 1 }) }, "Next →"));
  });
}

function slashFocus(event) {
  const filter = document.getElementById("filter-text");
  if (!filter) { document.removeEventListener("keydown", slashFocus); return; }
  if (event.key === "/" && document.activeElement.tagName !== "INPUT" && document.activeElement.tagName !== "TEXTAREA") {
    event.preventDefault();
    filter.focus();
  }
}

function settingsList(job) {
  const rows = [
    ["Job id", h("code", {}, job.job_id)], ["Scope", job.scope.toUpperCase()], ["Mode", job.reschedule_mode],
    ["Schedule", job.cron_expr ? h("code", {}, job.cron_expr) : job.interval_seconds ? "every " + job.interval_seconds + " s" : "—"],
    ["Time zone", job.timezone || zone() + " (the scheduler's)"],
    ["Jitter", job.jitter_seconds ? "up to " + job.jitter_seconds + " s (a fixed offset for this job)" : "none"],
    ["Missed fires", job.misfire_policy.replace(/_/g, " ") + ", within " + (job.misfire_grace_seconds === null ? "the scheduler's grace" : job.misfire_grace_seconds + " s")],
    ["Calendar", job.calendar ? h("span", {}, h("code", {}, job.calendar), job.calendar_mode === "next_open_day" ? ": a closed day's fire moves to the next open day" : ": no fire on its closed days") : "none (every day)"],
    ["Queue", h("code", {}, job.queue)], ["Enabled", job.enabled ? badge("enabled") : badge("paused")],
    ["Max parallel", String(job.max_parallel)], ["Timeout", job.timeout_sec + " s"], ["Retries", String(job.retry_limit)],
    ["Default params", h("code", {}, JSON.stringify(job.default_params))], ["Description", job.description || "—"],
    ["Telemetry label", job.telemetry_label], ["Alerts to Telegram", job.notify ? "yes" : "no (logged only)"], ["Next due", job.enabled ? when(job.next_due_at) : "— (paused)"],
    ["Last run", job.last_status ? h("span", {}, badge(job.last_status), " ", when(job.last_run_at)) : "never"],
    ["Last error", job.last_error ? h("pre", {}, job.last_error) : "—"],
    ["Created", when(job.created_at)], ["Updated", when(job.updated_at)],
  ];
  return h("dl", { class: "settings", id: "settings" }, rows.map(([k, v]) => [h("dt", {}, k), h("dd", {}, v)]));
}

async function jobView(jobId) {
  const path = "/jobs/" + encodeURIComponent(jobId);
  let statusFilter = "";
  const settings = h("div", {});
  const upcoming = h("div", { class: "panel", id: "upcoming" });
  const runs = h("div", {});
  const audit = h("div", {});
  const message = h("p", { id: "action-message", role: "status" });
  const params = h("textarea", { id: "run-params", "aria-label": "Run-now params (JSON object)", placeholder: '{"symbol": "005930"}' });
  const paramsError = h("p", { class: "field-error", id: "err-params" });
  const act = async (label, fn) => {
    message.textContent = label + "…";
    try { message.textContent = await fn(); if (state.tick) await state.tick(); } catch (e) { if (e.status !== 401) message.textContent = e.message; }
  };
  const runNow = (withParams) => act("Running", async () => {
    paramsError.textContent = "";
    let body;
    if (withParams && params.value.trim()) {
      try { body = { params: JSON.parse(params.value) }; } catch (e) { paramsError.textContent = "params must be JSON: " + e.message; throw new Error("not sent"); }
      if (typeof body.params !== "object" || body.params === null || Array.isArray(body.params)) { paramsError.textContent = "params must be a JSON object"; throw new Error("not sent"); }
    }
    try {
      const accepted = await api("POST", path + "/run-now", body);
      return "Run " + accepted.run_id + " is on its way.";
    } catch (e) {
      if ((e.body || {}).field === "params") paramsError.textContent = e.message;
      throw e;
    }
  });
  const pause = () => act("Pausing", async () => { await api("POST", path + "/pause"); return "Paused."; });
  const resume = () => act("Resuming", async () => { await api("POST", path + "/resume"); return "Resumed."; });
  const confirmInput = h("input", { id: "delete-confirm", type: "text", "aria-label": "Type the job id to confirm" });
  const deleteBox = h("div", { class: "panel", id: "delete-box", hidden: true },
    h("p", {}, "Deleting stops the schedule and removes the job with its run history. Type ", h("code", {}, jobId), " to confirm."),
    confirmInput, " ",
    h("button", { type: "button", class: "danger", id: "delete-submit", onclick: async () => {
      if (confirmInput.value !== jobId) { message.textContent = "Type the job id exactly to delete it."; return; }
      try { await api("DELETE", path); location.hash = "#/jobs"; } catch (e) { message.textContent = e.message; }
    } }, "Delete for good"));
  const actions = h("div", { class: "actions" });
  const statusSelect = h("select", { id: "runs-status", "aria-label": "Run status", onchange: (e) => { statusFilter = e.target.value; if (state.tick) state.tick(); } },
    h("option", { value: "" }, "all"), STATUSES.map((s) => h("option", { value: s }, s)));
  page("Job " + jobId, message, actions,
    h("details", { class: "panel" }, h("summary", {}, "Run now with params"), params, paramsError,
      h("button", { type: "button", class: "primary", id: "run-now-params", onclick: () => runNow(true) }, "Run now with these params")),
    deleteBox, settings, h("h2", {}, "Next instants"), upcoming,
    h("h2", {}, "Run history"), h("div", { class: "toolbar" }, h("label", {}, "Status", statusSelect)), runs,
    h("h2", {}, "Audit"), audit);
  let first = true;
  const refresh = async (current) => {
    let job;
    try { job = await api("GET", path); } catch (e) {
      if (e.status === 404 && current()) { stopRefresh(); page("Job " + jobId, h("p", { id: "gone" }, "This job does not exist (any more). ", h("a", { href: "#/jobs" }, "All jobs"))); return; }
      throw e;
    }
    if (!current()) return;
    if (first) {
      first = false;
      actions.replaceChildren(
        h("button", { type: "button", class: "primary", id: "run-now", onclick: () => runNow(false) }, "Run now"),
        h("button", { type: "button", id: "pause", onclick: pause }, "Pause"),
        h("button", { type: "button", id: "resume", onclick: resume }, "Resume"),
        h("a", { href: "#/job/" + encodeURIComponent(jobId) + "/edit", id: "edit", class: "button" }, "Edit"),
        h("a", { href: "#/new?copy=" + encodeURIComponent(jobId), id: "copy", class: "button" }, "Copy"),
        h("button", { type: "button", class: "danger", id: "delete", onclick: () => { deleteBox.hidden = false; confirmInput.focus(); } }, "Delete…"));
    }
    document.getElementById("pause").disabled = !job.enabled;
    document.getElementById("resume").disabled = job.enabled;
    settings.replaceChildren(settingsList(job));
    const [schedule, history, entries] = await Promise.all([
      api("GET", path + "/schedule?count=5"),
      api("GET", path + "/runs" + query({ limit: 50, status: statusFilter })),
      api("GET", "/audit" + query({ job_id: jobId, limit: 20 })),
    ]);
    if (!current()) return;
    const ownZone = schedule.timezone !== zone();
    upcoming.replaceChildren(...[h("p", {}, schedule.description, " ", h("span", { class: "muted" }, "(" + schedule.timezone + ")")),
      schedule.dst ? h("p", { class: "muted", id: "dst" }, schedule.dst) : null,
      schedule.jitter_ms ? h("p", { class: "muted", id: "jitter" }, "Every instant moved " + (schedule.jitter_ms / 1000).toFixed(3) + " s later (jitter)") : null,
      schedule.instants.length ? h("ol", {}, schedule.instants.map((i) => h("li", { class: i.skipped ? "holiday" : null }, localTime(i.utc), " ", h("span", { class: "muted" }, relative(i.utc)),
        ownZone ? h("span", { class: "muted" }, " · " + i.local.replace("T", " ") + " " + schedule.timezone) : null, closedNote(i))))
        : h("p", { class: "muted" }, job.enabled ? "Not scheduled by the engine (queue mode: the worker reschedules)." : "Paused: nothing is due.")].filter(Boolean));
    runs.replaceChildren(history.length ? h("table", { class: "stack", id: "runs" },
      h("thead", {}, h("tr", {}, ["Status", "Trigger", "Attempt", "Due", "Queued", "Duration", "Error", "Run"].map((t) => h("th", {}, t)))),
      h("tbody", {}, history.map((run) => h("tr", { "data-status": run.status, "data-trigger": run.trigger_source },
        td("Status", badge(run.status)), td("Trigger", run.trigger_source), td("Attempt", String(run.attempt)),
        td("Due", localTime(run.due_at)), td("Queued", localTime(run.queued_at)),
        td("Duration", run.duration_seconds === null ? "—" : run.duration_seconds.toFixed(3) + " s"),
        td("Error", run.error ? h("pre", {}, run.error) : ""), td("Run", h("code", { title: JSON.stringify(run.params) }, run.run_id.slice(0, 8)))))))
      : h("p", { class: "muted", id: "runs" }, "No run" + (statusFilter ? " with status " + statusFilter : "") + " yet."));
    audit.replaceChildren(auditTable(entries, false));
  };
  return live(refresh);
}

// What the job's calendar does to an upcoming instant: skipped, or moved from a closed day.
function closedNote(instant) {
  if (instant.skipped) return h("span", { class: "closed" }, " · skipped: " + instant.holiday);
  if (instant.moved_from) return h("span", { class: "closed" }, " · moved from " + localTime(instant.moved_from) + " (" + instant.holiday + ")");
  return null;
}

function changes(entry) {
  const whole = (label, value) => h("details", {}, h("summary", {}, label), h("pre", {}, JSON.stringify(value, null, 1)));
  if (entry.action === "run_now") return h("code", {}, "run " + String((entry.after || {}).run_id).slice(0, 8) + ", params " + JSON.stringify((entry.after || {}).params || null));
  const what = entry.job_id.startsWith("calendar:") ? "calendar" : "job";
  if (!entry.before) return whole("created: the " + what + " as stored", entry.after);
  if (!entry.after) return whole("deleted: the " + what + " as it was", entry.before);
  const keys = Object.keys(entry.after).filter((k) => JSON.stringify(entry.before[k]) !== JSON.stringify(entry.after[k]));
  const text = keys.map((k) => k + ": " + JSON.stringify(entry.before[k]) + " → " + JSON.stringify(entry.after[k])).join("; ") || "no change";
  return h("code", {}, text);
}

function auditTable(entries, withJob) {
  if (!entries.length) return h("p", { class: "muted", id: "audit" }, "No action recorded yet.");
  return h("table", { class: "stack", id: "audit" },
    h("thead", {}, h("tr", {}, ["When", "Who", "What", withJob ? "Job" : null, "Change"].filter(Boolean).map((t) => h("th", {}, t)))),
    h("tbody", {}, entries.map((e) => h("tr", { "data-action": e.action },
      td("When", localTime(e.at)), td("Who", e.actor), td("What", e.action),
      withJob ? td("Job", e.job_id.startsWith("calendar:") ? h("code", {}, e.job_id) : h("a", { href: "#/job/" + encodeURIComponent(e.job_id) }, e.job_id)) : null,
      td("Change", changes(e))))));
}

async function auditView() {
  const body = h("div", {});
  page("Audit log", h("p", { class: "muted" }, "Every create, edit, pause, resume, delete and run-now, and every calendar change, newest first (also at GET /audit)."), body);
  return live(async (current) => {
    const entries = await api("GET", "/audit?limit=200");
    if (current()) body.replaceChildren(auditTable(entries, true));
  });
}

// ---------- the job form (create, copy, edit) ----------

const FIELDS = [
  ["job_id", "Job id", "text", "1–100 of letters, digits, . _ -; cannot change later"],
  ["description", "Description", "text", ""],
  ["reschedule_mode", "Mode", "select", "scheduler: the scheduler fires it; queue: the worker reschedules itself"],
  ["cron_expr", "Cron", "text", "5 fields (minute hour day month weekday), read in the time zone below; empty for an interval"],
  ["timezone", "Time zone", "text", "an IANA zone such as America/New_York; empty: the scheduler's zone"],
  ["interval_seconds", "Interval (s)", "number", "fire every N seconds when there is no cron; the delay in queue mode"],
  ["jitter_seconds", "Jitter (s)", "number", "moves every instant later by a fixed offset below this, taken from the job id (spreads many jobs); 0: none"],
  ["misfire_policy", "Missed fires", "select", "after a restart or failover: catch up once, skip, or catch up each missed instant", ["catch_up_once", "skip", "catch_up_all"]],
  ["misfire_grace_seconds", "Grace (s)", "number", "how late a missed fire may still run; empty: the scheduler's grace"],
  ["calendar", "Calendar", "text", "an exchange calendar such as krx (GET /calendars): no fire on its closed days; empty: every day"],
  ["calendar_mode", "On a closed day", "select", "skip the fire, or fire at the same time on the next open day", ["skip", "next_open_day"]],
  ["queue", "Queue", "text", "must start with <scope>.jobs."],
  ["enabled", "Enabled", "checkbox", ""],
  ["max_parallel", "Max parallel", "number", "runs in flight at once"],
  ["timeout_sec", "Timeout (s)", "number", "no report within this time: timeout"],
  ["retry_limit", "Retries", "number", "retries of a failed or timed-out run"],
  ["default_params", "Default params", "textarea", "a JSON object sent with every run"],
  ["telemetry_label", "Telemetry label", "text", "empty: derived from the job id"],
  ["notify", "Alerts to Telegram", "checkbox", "off: its alerts are only logged and counted"],
];

async function formView(jobId, copyFrom) {
  const editing = Boolean(jobId);
  const source = jobId || copyFrom;
  const view = state.view;
  const original = source ? await api("GET", "/jobs/" + encodeURIComponent(source)) : null;
  if (view !== state.view) return;
  const inputs = {};
  const errors = {};
  const formError = h("p", { class: "form-error", id: "form-error", role: "alert" });
  const form = h("form", { class: "job", id: "job-form", novalidate: true });
  for (const [name, label, type, hint, options] of FIELDS) {
    if (editing && name === "job_id") continue;
    let input;
    const id = "f-" + name;
    if (type === "select") {
      input = h("select", { id }, (options || ["scheduler", "queue"]).map((option) => h("option", { value: option }, option.replace(/_/g, " "))));
    } else if (type === "textarea") {
      input = h("textarea", { id });
    } else {
      input = h("input", { id, type, name });
    }
    const value = original ? original[name] : { enabled: true, reschedule_mode: "scheduler", max_parallel: 1, timeout_sec: 120, retry_limit: 3, default_params: {}, jitter_seconds: 0, misfire_policy: "catch_up_once", calendar_mode: "skip" }[name];
    if (type === "checkbox") input.checked = value !== false; // enabled and notify default to true
    else if (name === "default_params") input.value = JSON.stringify(value || {}, null, 1);
    else if (value !== null && value !== undefined) input.value = String(value);
    if (name === "job_id" && copyFrom) input.value = copyFrom + "-copy";
    // A copy gets its own label (derived from its id), or both jobs' metrics would merge.
    if (name === "telemetry_label" && copyFrom) input.value = "";
    if (name === "queue" && !original && state.session) input.placeholder = state.session.scope + ".jobs.";
    inputs[name] = input;
    errors[name] = h("p", { class: "field-error", id: "err-" + name, role: "alert" });
    form.append(h("label", { for: id }, label), h("div", { class: "field" }, input, hint ? h("div", { class: "hint" }, hint) : null, errors[name]));
  }
  // The schedule as typed, previewed by the scheduler itself (its words, zone, next instants).
  const preview = h("div", { class: "panel", id: "form-preview", "aria-live": "polite" });
  let previewTimer = null;
  const showPreview = async () => {
    const body = {};
    for (const name of ["cron_expr", "interval_seconds", "timezone", "jitter_seconds", "job_id", "calendar", "calendar_mode"]) {
      const input = inputs[name];
      const text = input ? input.value.trim() : "";
      if (text !== "") body[name] = ["interval_seconds", "jitter_seconds"].includes(name) ? Number(text) : text;
    }
    if (editing) body.job_id = jobId;
    if (inputs.reschedule_mode && inputs.reschedule_mode.value === "queue") { preview.replaceChildren(h("p", { class: "muted" }, "Queue mode: the worker reschedules it.")); return; }
    if (body.cron_expr === undefined && body.interval_seconds === undefined) { preview.replaceChildren(h("p", { class: "muted" }, "A cron or an interval shows its next instants here.")); return; }
    try {
      const schedule = await api("POST", "/schedule/preview?count=5", body);
      preview.replaceChildren(...[h("p", {}, schedule.description, " ", h("span", { class: "muted" }, "(" + schedule.timezone + ")")),
        schedule.dst ? h("p", { class: "muted" }, schedule.dst) : null,
        h("ol", {}, schedule.instants.map((i) => h("li", {}, i.local.replace("T", " "), " ", h("span", { class: "muted" }, relative(i.utc)), closedNote(i))))].filter(Boolean));
    } catch (e) {
      preview.replaceChildren(h("p", { class: "field-error", role: "alert" }, e.message));
    }
  };
  for (const name of ["cron_expr", "interval_seconds", "timezone", "jitter_seconds", "job_id", "reschedule_mode", "calendar", "calendar_mode"]) {
    if (inputs[name]) inputs[name].addEventListener("input", () => { clearTimeout(previewTimer); previewTimer = setTimeout(showPreview, 300); });
  }
  form.append(h("span", { class: "preview-label" }, "Next instants"), preview);
  showPreview();
  const save = h("button", { class: "primary", id: "save", type: "submit" }, editing ? "Save changes" : "Create job");
  form.append(h("span", {}), h("div", {}, h("div", { class: "actions" }, save, h("a", { href: editing ? "#/job/" + encodeURIComponent(jobId) : "#/jobs" }, "Cancel")), formError));
  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    Object.values(errors).forEach((e) => { e.textContent = ""; });
    formError.textContent = "";
    const body = {};
    for (const [name, , type] of FIELDS) {
      const input = inputs[name];
      if (!input) continue;
      let value;
      if (type === "checkbox") value = input.checked;
      else if (type === "number") value = input.value.trim() === "" ? null : Number(input.value);
      else if (name === "default_params") {
        const text = input.value.trim();
        if (!text) value = null;
        else {
          try { value = JSON.parse(text); } catch (e) { errors[name].textContent = "not valid JSON: " + e.message; return; }
        }
      } else value = input.value.trim() === "" ? null : input.value.trim();
      if (name === "cron_expr" && value === null) value = "";
      if (editing) {
        if (JSON.stringify(value) !== JSON.stringify(original[name] === undefined ? null : original[name])) body[name] = value;
      } else if (value !== null && value !== "") body[name] = value;
    }
    save.disabled = true;
    try {
      const job = editing ? await api("PUT", "/jobs/" + encodeURIComponent(jobId), body) : await api("POST", "/jobs", body);
      location.hash = "#/job/" + encodeURIComponent(job.job_id);
    } catch (e) {
      const field = (e.body || {}).field;
      if (field && errors[field]) { errors[field].textContent = e.message; inputs[field].focus(); }
      else formError.textContent = e.message;
    } finally {
      save.disabled = false;
    }
  });
  page(editing ? "Edit " + jobId : copyFrom ? "Copy of " + copyFrom : "New job",
    h("p", { class: "muted" }, "Scope ", h("strong", {}, state.session.scope.toUpperCase()), ": the job is created in this stack only."), form);
  (inputs.job_id || inputs.description).focus();
}

// ---------- routing ----------

async function route() {
  stopRefresh();
  state.view += 1;
  const hash = location.hash.replace(/^#/, "") || "/";
  const [path, search] = hash.split("?");
  const params = new URLSearchParams(search || "");
  for (const link of document.querySelectorAll("nav a")) {
    const target = link.getAttribute("href").slice(1);
    link.classList.toggle("current", target === "/" ? path === "/" : path.startsWith(target));
    if (link.classList.contains("current")) link.setAttribute("aria-current", "page"); else link.removeAttribute("aria-current");
  }
  if (!state.session || !state.session.logged_in) {
    try {
      if (!(await loadSession())) return showLogin();
    } catch (e) {
      return page("Cannot reach the scheduler", h("p", {}, e.message));
    }
  }
  const parts = path.split("/").filter(Boolean).map(decodeURIComponent);
  try {
    if (parts.length === 0) await overviewView();
    else if (parts[0] === "jobs") await jobsView(params);
    else if (parts[0] === "new") await formView(null, params.get("copy"));
    else if (parts[0] === "job" && parts.length === 3 && parts[2] === "edit") await formView(parts[1], null);
    else if (parts[0] === "job" && parts.length === 2) await jobView(parts[1]);
    else if (parts[0] === "audit") await auditView();
    else page("Not found", h("p", {}, "No such page. ", h("a", { href: "#/" }, "Overview")));
  } catch (e) {
    if (e.status !== 401) page("Error", h("p", { class: "form-error" }, e.message));
  }
  document.getElementById("view").focus({ preventScroll: true });
}

document.getElementById("logout").addEventListener("click", async () => {
  try { await api("DELETE", "/ui/api/session"); } catch (_) { /* logged out either way */ }
  state.session = null;
  await route();
});
window.addEventListener("hashchange", route);
// Back on the tab: refresh the page in place (what the operator typed stays).
document.addEventListener("visibilitychange", () => { if (!document.hidden && state.tick) state.tick(); });
route();
