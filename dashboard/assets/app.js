// The dashboard page's logic: one plain script, no framework and no build
// step, because it is embedded into plexus-dashboard as it is written. It
// draws what /api/graph and the /api/live WebSocket tell, sends the actions
// with the page's token, mounts package panels in sandboxed iframes and
// uploads packages. Element ids and data-* attributes are what the browser
// test reads, so they are kept stable.
"use strict";

const EVENTS_KEPT = 200;
const PREVIEW_EVERY_MS = 250;
const PANEL_FRAME_EVERY_MS = 250;
const SVG = "http://www.w3.org/2000/svg";

const $ = (id) => document.getElementById(id);
const token = (() => {
  const metas = document.querySelectorAll('meta[name="plexus-token"]');
  return metas.length ? metas[metas.length - 1].content : "";
})();

const state = {
  watched: false, // whether the first hello came
  runtime: null, // the watched runtime's id, or null
  graph: null, // /api/graph
  status: null, // the last RuntimeStatus
  eventSeqs: new Set(), // seqs shown, so a replayed history is not shown twice
  preview: null, // {processor, port, timer, url}
  panels: [], // mounted panels, see mountPanels
};

// ---------------------------------------------------------------- requests

async function getJson(path) {
  const reply = await fetch(path, { cache: "no-store" });
  const body = await reply.json().catch(() => ({}));
  if (!reply.ok) throw new Error(body.error || `${path}: HTTP ${reply.status}`);
  return body;
}

/** POSTs with the token; resolves to {status, body}. */
async function post(path, body, contentType = "application/json") {
  const reply = await fetch(path, {
    method: "POST",
    headers: { "X-Plexus-Token": token, "Content-Type": contentType },
    body: body === undefined ? undefined : contentType === "application/json" ? JSON.stringify(body) : body,
  });
  const json = await reply.json().catch(() => ({}));
  return { status: reply.status, body: json };
}

function el(tag, attrs = {}, ...children) {
  const node = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs)) node.setAttribute(k, v);
  for (const child of children) node.append(child);
  return node;
}

function svg(tag, attrs = {}) {
  const node = document.createElementNS(SVG, tag);
  for (const [k, v] of Object.entries(attrs)) node.setAttribute(k, v);
  return node;
}

// ---------------------------------------------------------------- confirm

/** Asks in an in-page dialog (a test can click it); resolves to a bool. */
function confirmInPage(message) {
  const dialog = $("confirm");
  $("confirm-message").textContent = message;
  return new Promise((resolve) => {
    dialog.addEventListener("close", () => resolve(dialog.returnValue === "ok"), { once: true });
    dialog.returnValue = "";
    dialog.showModal();
  });
}

async function action(message, path, body) {
  if (!(await confirmInPage(message))) return;
  const out = $("action-result");
  const { status, body: reply } = await post(path, body);
  out.dataset.state = reply.ok ? "ok" : "error";
  out.dataset.path = path;
  out.textContent = reply.ok ? `${path}: done` : reply.error || `${path}: HTTP ${status}`;
}

$("action-pause").addEventListener("click", () => action("Pause every processor of the run?", "/api/pause", {}));
$("action-resume").addEventListener("click", () => action("Resume every processor of the run?", "/api/resume", {}));
$("action-stop").addEventListener("click", () => action("Stop the run? Its workers end.", "/api/stop", {}));

// ---------------------------------------------------------------- graph

function edgeKey(e) {
  return `${e.from}.${e.from_port}->${e.to}.${e.to_port}`;
}

/** The middle of an edge's longest segment, where its label has room. */
function labelAt(points) {
  let best = [points[0] || [0, 0], points[0] || [0, 0]];
  let longest = -1;
  for (let i = 1; i < points.length; i++) {
    const [a, b] = [points[i - 1], points[i]];
    const length = Math.hypot(b[0] - a[0], b[1] - a[1]);
    if (length > longest) [longest, best] = [length, [a, b]];
  }
  return [(best[0][0] + best[1][0]) / 2, (best[0][1] + best[1][1]) / 2];
}

function drawGraph(graph) {
  const root = $("graph");
  root.replaceChildren();
  root.setAttribute("viewBox", `0 0 ${graph.width} ${graph.height}`);
  root.setAttribute("width", graph.width);
  root.setAttribute("height", graph.height);
  $("pipeline-name").textContent = graph.pipeline;
  for (const e of graph.edges) {
    const g = svg("g", { class: "edge", "data-edge": edgeKey(e), "data-fps": "0" });
    const points = e.points.map(([x, y]) => `${x},${y}`).join(" ");
    g.append(svg("polyline", { points, class: "wire" }));
    g.append(svg("polyline", { points, class: "hit" })); // a wider target for clicks
    const [x, y] = labelAt(e.points);
    const label = svg("text", { x, y: y - 4, class: "edge-label" });
    g.append(label);
    g.addEventListener("click", () => choosePreview(e.from, e.from_port));
    root.append(g);
  }
  for (const n of graph.nodes) {
    const g = svg("g", {
      class: "node",
      "data-processor": n.processor,
      "data-worker": n.worker,
      "data-language": n.language,
      "data-restarts": "0",
      "data-state": "",
      transform: `translate(${n.x},${n.y})`,
    });
    g.append(svg("rect", { width: n.width, height: n.height, rx: 6, class: `lang-${n.language}` }));
    const lines = [
      [n.processor, "name"],
      [`${n.type} · ${n.language}`, "type"],
      ["", "state"],
    ];
    lines.forEach(([text, cls], i) => {
      const t = svg("text", { x: 8, y: 13 + i * 13.5, class: cls });
      t.textContent = text;
      g.append(t);
    });
    g.addEventListener("click", () => chooseNodePreview(n.processor));
    root.append(g);
  }
  updateGraph();
}

/** The status of one processor and of its worker, from the last status. */
function processorStatus(id) {
  for (const w of state.status?.workers || []) {
    const p = w.processors.find((p) => p.processor === id);
    if (p) return { worker: w, processor: p };
  }
  return null;
}

function updateGraph() {
  if (!state.graph || !state.status) return;
  for (const g of document.querySelectorAll("#graph .node")) {
    const found = processorStatus(g.dataset.processor);
    if (!found) continue;
    const { worker } = found;
    g.dataset.state = worker.state;
    g.dataset.restarts = worker.restarts;
    g.querySelector("text.state").textContent = `${worker.state} · restarts ${worker.restarts}`;
  }
  for (const e of state.graph.edges) {
    const g = document.querySelector(`#graph [data-edge="${CSS.escape(edgeKey(e))}"]`);
    const input = processorStatus(e.to)?.processor.inputs.find((i) => i.port === e.to_port);
    if (!g || !input) continue;
    g.dataset.fps = input.fps.toFixed(1);
    g.dataset.dropped = input.dropped;
    const p50 = input.latency_us ? `${(input.latency_us.p50 / 1000).toFixed(1)} ms` : "–";
    g.querySelector("text").textContent = `${input.fps.toFixed(1)} fps · ${input.dropped} dropped · p50 ${p50}`;
  }
}

// ---------------------------------------------------------------- workers

function duration(ms) {
  const s = Math.floor(ms / 1000);
  return s < 60 ? `${s}s` : s < 3600 ? `${Math.floor(s / 60)}m${s % 60}s` : `${Math.floor(s / 3600)}h${Math.floor(s / 60) % 60}m`;
}

function bytes(n) {
  return n >= 1 << 30 ? `${(n / (1 << 30)).toFixed(1)} GiB` : `${(n / (1 << 20)).toFixed(1)} MiB`;
}

function updateWorkers() {
  const body = $("workers").tBodies[0];
  const seen = new Set();
  for (const w of state.status.workers) {
    seen.add(w.worker);
    let row = body.querySelector(`tr[data-worker="${CSS.escape(w.worker)}"]`);
    if (!row) {
      row = el("tr", { "data-worker": w.worker });
      for (let i = 0; i < 8; i++) row.append(el("td"));
      const button = el("button", { type: "button", "data-action": "restart", "data-worker": w.worker }, "Restart");
      button.addEventListener("click", () =>
        action(`Restart worker ${w.worker}?`, `/api/workers/${encodeURIComponent(w.worker)}/restart`),
      );
      row.append(el("td", {}, button));
      body.append(row);
    }
    row.dataset.pid = w.pid;
    row.dataset.state = w.state;
    row.dataset.restarts = w.restarts;
    const cells = [w.worker, w.language, w.pid || "–", w.state, w.restarts, duration(w.uptime_ms),
      w.cpu_percent.toFixed(1), bytes(w.rss_bytes)];
    cells.forEach((text, i) => (row.cells[i].textContent = text));
  }
  for (const row of [...body.rows]) if (!seen.has(row.dataset.worker)) row.remove();
}

// ---------------------------------------------------------------- events

function describe(ev) {
  const { seq, time_ns, mono_ns, kind, ...rest } = ev;
  return Object.entries(rest)
    .filter(([k]) => k !== "message")
    .map(([k, v]) => `${k}=${typeof v === "object" ? JSON.stringify(v) : v}`)
    .join(" ");
}

function showEvent(ev) {
  forwardEventToPanels(ev);
  // Each processor's stats come every second; the graph shows them already.
  if (ev.kind === "processor_stats" || state.eventSeqs.has(ev.seq)) return;
  state.eventSeqs.add(ev.seq);
  const list = $("events");
  const time = new Date(Math.floor(ev.time_ns / 1e6)).toLocaleTimeString([], { hour12: false });
  const item = el("li", { "data-kind": ev.kind, "data-seq": ev.seq });
  if (ev.worker) item.dataset.worker = ev.worker;
  if (ev.processor) item.dataset.processor = ev.processor;
  item.append(el("time", {}, time), " ", el("b", {}, ev.kind), " ", describe(ev));
  if (ev.kind === "processor_error") {
    const [first, ...rest] = String(ev.message).split("\n");
    const details = el("details", {}, el("summary", {}, first));
    details.append(el("pre", {}, rest.length ? rest.join("\n") : first));
    item.append(details);
  }
  // Newest first, whatever order a replay brings them in.
  const after = [...list.children].find((li) => Number(li.dataset.seq) < ev.seq);
  list.insertBefore(item, after || null);
  while (list.children.length > EVENTS_KEPT) {
    state.eventSeqs.delete(Number(list.lastChild.dataset.seq));
    list.lastChild.remove();
  }
  if (ev.kind === "config_changed") panelConfigChanged(ev);
}

// ---------------------------------------------------------------- preview

function chooseNodePreview(processor) {
  const found = processorStatus(processor);
  const output = found?.processor.outputs[0];
  if (output) choosePreview(processor, output.port);
  else {
    // A sink: show what arrives at its first input.
    const edge = state.graph.edges.find((e) => e.to === processor);
    if (edge) choosePreview(edge.from, edge.from_port);
  }
}

function choosePreview(processor, port) {
  stopPreview();
  const label = $("preview-label");
  label.dataset.processor = processor;
  label.dataset.port = port;
  label.textContent = `${processor}.${port}`;
  for (const g of document.querySelectorAll("#graph .chosen")) g.classList.remove("chosen");
  document.querySelector(`#graph [data-processor="${CSS.escape(processor)}"]`)?.classList.add("chosen");
  state.preview = { processor, port, timer: null, url: null };
  refreshPreview(state.preview);
}

function stopPreview() {
  if (!state.preview) return;
  clearTimeout(state.preview.timer);
  state.preview.stopped = true;
  state.preview = null;
}

async function refreshPreview(preview) {
  const img = $("preview");
  const note = $("preview-note");
  const path = `/api/preview/${encodeURIComponent(preview.processor)}/${encodeURIComponent(preview.port)}?format=jpeg`;
  let wait = PREVIEW_EVERY_MS;
  try {
    const reply = await fetch(path, { cache: "no-store" });
    if (preview.stopped) return;
    if (reply.ok) {
      const seq = reply.headers.get("X-Plexus-Seq") || "";
      const blob = await reply.blob();
      if (preview.stopped) return;
      if (seq !== img.dataset.seq) {
        const url = URL.createObjectURL(blob);
        await new Promise((done) => {
          img.onload = img.onerror = done;
          img.src = url;
        });
        if (preview.url) URL.revokeObjectURL(preview.url);
        preview.url = url;
        img.dataset.seq = seq;
        img.alt = `${preview.processor}.${preview.port}`;
      }
      note.textContent = `frame ${seq}`;
    } else {
      const body = await reply.json().catch(() => ({}));
      note.textContent = body.error || `HTTP ${reply.status}`;
      // Not video, or unknown: asking again will not change that.
      if (reply.status === 404 || reply.status === 415) return;
      wait = 1000;
    }
  } catch (err) {
    note.textContent = String(err);
    wait = 1000;
  }
  if (!preview.stopped) preview.timer = setTimeout(() => refreshPreview(preview), wait);
}

// ---------------------------------------------------------------- panels

/** Mounts one sandboxed iframe per panel and processor it serves. */
async function mountPanels() {
  for (const p of state.panels) p.stop();
  state.panels = [];
  const box = $("panels");
  box.replaceChildren();
  let list;
  try {
    list = (await getJson("/api/panels")).panels;
  } catch {
    list = []; // a dashboard without panels support shows none
  }
  // Beside the processor: in the order the graph lays the nodes out.
  const x = (id) => state.graph?.nodes.find((n) => n.processor === id)?.x ?? 0;
  const mounts = list.flatMap((panel) => panel.processors.map((processor) => ({ panel, processor })));
  mounts.sort((a, b) => x(a.processor) - x(b.processor));
  for (const { panel, processor } of mounts) state.panels.push(mountPanel(box, panel, processor));
  $("panels-card").hidden = mounts.length === 0;
}

function mountPanel(box, panel, processor) {
  const container = el("figure", {
    class: "panel",
    "data-panel": panel.package,
    "data-panel-processor": processor,
  });
  const caption = el("figcaption", {}, `${panel.title || panel.module} · ${processor}`);
  const frame = el("iframe", {
    sandbox: "allow-scripts",
    src: `${panel.url}?processor=${encodeURIComponent(processor)}`,
    title: `${panel.package} panel for ${processor}`,
  });
  container.append(caption, frame);
  box.append(container);
  const node = state.graph?.nodes.find((n) => n.processor === processor);
  const mounted = {
    panel,
    processor,
    type: node?.type || panel.types[0],
    container,
    frame,
    config: structuredClone(panel.configs?.[processor] ?? {}),
    wantsEvents: false,
    feeds: new Map(), // port -> {stopped, timer}
    stop() {
      for (const feed of this.feeds.values()) feed.stopped = true;
    },
  };
  return mounted;
}

/** Sends one message into a panel; its origin is opaque, hence "*". */
function toPanel(mounted, message, transfer = []) {
  mounted.frame.contentWindow?.postMessage(message, "*", transfer);
}

/** The output a panel port reads: its own output, or what feeds its input. */
function feedingOutput(processor, port) {
  const edge = state.graph?.edges.find((e) => e.to === processor && e.to_port === port);
  return edge ? { processor: edge.from, port: edge.from_port } : { processor, port };
}

const REPORT_NAME = /^[a-z][a-z0-9_-]{0,39}$/;

window.addEventListener("message", (e) => {
  // Only the panel's own iframe speaks for it; anything else is ignored.
  const mounted = state.panels.find((p) => p.frame.contentWindow === e.source);
  const m = e.data;
  if (!mounted || !m || typeof m !== "object" || typeof m.plexus !== "string") return;
  switch (m.plexus) {
    case "ready":
      toPanel(mounted, {
        plexus: "init",
        processor: mounted.processor,
        type: mounted.type,
        ports: mounted.panel.ports,
        config: mounted.config,
      });
      break;
    case "subscribe":
      if (mounted.panel.ports.includes(m.port) && !mounted.feeds.has(m.port)) {
        const feed = { stopped: false, seq: null };
        mounted.feeds.set(m.port, feed);
        feedPanel(mounted, m.port, feed);
      }
      break;
    case "events":
      mounted.wantsEvents = true;
      break;
    case "set":
      panelSet(mounted, m.id, m.changes);
      break;
    case "report":
      if (typeof m.name === "string" && REPORT_NAME.test(m.name)) {
        mounted.container.setAttribute(`data-report-${m.name}`, String(m.value).slice(0, 200));
      }
      break;
  }
});

/** Fetches a port's newest frame as RGBA a few times a second for a panel. */
async function feedPanel(mounted, port, feed) {
  const source = feedingOutput(mounted.processor, port);
  const path = `/api/preview/${encodeURIComponent(source.processor)}/${encodeURIComponent(source.port)}?format=rgba&max_width=256`;
  let wait = PANEL_FRAME_EVERY_MS;
  try {
    const reply = await fetch(path, { cache: "no-store" });
    if (reply.ok) {
      const seq = Number(reply.headers.get("X-Plexus-Seq"));
      const width = Number(reply.headers.get("X-Plexus-Width"));
      const height = Number(reply.headers.get("X-Plexus-Height"));
      const rgba = await reply.arrayBuffer();
      if (seq !== feed.seq && rgba.byteLength === width * height * 4) {
        feed.seq = seq;
        toPanel(mounted, { plexus: "frame", port, seq, width, height, rgba }, [rgba]);
      }
    } else if (reply.status === 404 || reply.status === 415) {
      return;
    } else {
      wait = 1000;
    }
  } catch {
    wait = 1000;
  }
  if (!feed.stopped) feed.timer = setTimeout(() => feedPanel(mounted, port, feed), wait);
}

async function panelSet(mounted, id, changes) {
  if (!changes || typeof changes !== "object" || Array.isArray(changes)) {
    toPanel(mounted, { plexus: "reply", id, ok: false, error: "set takes an object of changes" });
    return;
  }
  const { body } = await post("/api/set", { processor: mounted.processor, changes });
  toPanel(mounted, { plexus: "reply", id, ok: !!body.ok, error: body.ok ? null : body.error || "refused" });
}

function panelConfigChanged(ev) {
  for (const mounted of state.panels) {
    if (mounted.processor !== ev.processor) continue;
    Object.assign(mounted.config, ev.changes);
    toPanel(mounted, { plexus: "config", config: mounted.config });
  }
}

/** A panel that asked hears each runtime event (docs/panels.md). */
function forwardEventToPanels(ev) {
  for (const mounted of state.panels) {
    if (mounted.wantsEvents) toPanel(mounted, { plexus: "event", event: ev });
  }
}

// ---------------------------------------------------------------- runtime

async function watch(runtime) {
  // A reconnected socket says hello again: the same runtime keeps its page.
  if (state.watched && runtime === state.runtime) return;
  state.watched = true;
  state.runtime = runtime;
  state.graph = null;
  state.status = null;
  state.eventSeqs.clear();
  stopPreview();
  $("events").replaceChildren();
  $("workers").tBodies[0].replaceChildren();
  $("graph").replaceChildren();
  for (const p of state.panels) p.stop();
  state.panels = [];
  $("panels").replaceChildren();
  const label = $("runtime");
  label.dataset.runtime = runtime || "";
  label.textContent = runtime ? `runtime ${runtime}` : "no runtime running";
  $("live").hidden = !runtime;
  $("past").hidden = !!runtime;
  for (const b of document.querySelectorAll("#actions button")) b.disabled = !runtime;
  if (!runtime) return showRuns();
  try {
    state.graph = await getJson("/api/graph");
  } catch (err) {
    $("pipeline-name").textContent = err.message;
    return;
  }
  if (state.runtime !== runtime) return;
  drawGraph(state.graph);
  await mountPanels();
}

function onStatus(status) {
  state.status = status;
  $("runtime").textContent = `runtime ${status.runtime} · ${status.pipeline} · up ${duration(status.uptime_ms)}`;
  updateGraph();
  updateWorkers();
}

function connect() {
  const scheme = location.protocol === "https:" ? "wss" : "ws";
  const socket = new WebSocket(`${scheme}://${location.host}/api/live`);
  const shown = $("connection");
  socket.onopen = () => {
    shown.dataset.state = "open";
    shown.textContent = "live";
  };
  socket.onmessage = async (message) => {
    const m = JSON.parse(message.data);
    if (m.kind === "hello" || m.kind === "runtime") {
      await watch(m.runtime);
      // Several running: the newest is watched, and the page says so.
      $("others").textContent = m.others?.length ? `(newest of ${m.others.length + 1}; also ${m.others.join(", ")})` : "";
    }
    else if (m.kind === "status" && m.status.runtime === state.runtime) onStatus(m.status);
    else if (m.kind === "event" && state.runtime) showEvent(m.event);
  };
  socket.onclose = () => {
    shown.dataset.state = "closed";
    shown.textContent = "disconnected, retrying…";
    setTimeout(connect, 1000);
  };
}

// ---------------------------------------------------------------- past runs

async function showRuns() {
  const body = $("runs").tBodies[0];
  body.replaceChildren();
  let runs;
  try {
    runs = (await getJson("/api/runs")).runs;
  } catch (err) {
    body.append(el("tr", {}, el("td", { colspan: 5 }, err.message)));
    return;
  }
  for (const run of runs) {
    const row = el("tr", { "data-run": run.runtime, "data-state": run.state });
    const started = new Date(Math.floor(run.start_time_ns / 1e6)).toLocaleString();
    const elapsed = run.elapsed_ms === null ? "–" : duration(run.elapsed_ms);
    for (const text of [run.runtime, run.pipeline, run.state, started, elapsed]) row.append(el("td", {}, text));
    row.addEventListener("click", () => showSummary(run.runtime));
    body.append(row);
  }
}

async function showSummary(id) {
  const out = $("run-summary");
  out.hidden = false;
  out.dataset.run = id;
  try {
    out.textContent = JSON.stringify(await getJson(`/api/runs/${encodeURIComponent(id)}/summary`), null, 2);
  } catch (err) {
    out.textContent = err.message;
  }
}

// ---------------------------------------------------------------- packages

/** Shows what an uploaded archive asks for, then installs it on request. */
async function offerPackage(file) {
  const result = $("upload-result");
  const offer = $("package-offer");
  offer.hidden = true;
  $("package-details").replaceChildren();
  result.dataset.state = "inspecting";
  result.dataset.file = file.name;
  result.textContent = `Reading ${file.name}…`;
  const bytes = await file.arrayBuffer();
  const inspected = await post("/api/packages/inspect", bytes, "application/octet-stream");
  if (inspected.status !== 200) return refused(inspected);
  const pkg = inspected.body;
  const details = $("package-details");
  details.replaceChildren(
    el("p", {}, el("b", {}, `${pkg.name} ${pkg.version}`), pkg.description ? ` — ${pkg.description}` : ""),
  );
  const list = el("ul", { id: "package-processors" });
  for (const p of pkg.processors) {
    const needs = p.requirements?.length ? ` · requires ${p.requirements.join(", ")}` : "";
    list.append(el("li", { "data-type": p.name, "data-language": p.language }, `${p.name} (${p.language}, ${p.mode})${needs}`));
  }
  details.append(el("p", {}, "Processors:"), list);
  for (const [label, value] of [["Requirements", pkg.requirements], ["Panels", pkg.panels]]) {
    if (value?.length) details.append(el("p", {}, `${label}: ${value.map((v) => (typeof v === "string" ? v : v.module || JSON.stringify(v))).join(", ")}`));
  }
  details.dataset.package = pkg.name;
  details.dataset.version = pkg.version;
  result.dataset.state = "inspected";
  result.textContent = `${file.name} asks for the above; install it?`;
  offer.hidden = false;
  $("package-cancel").onclick = () => {
    offer.hidden = true;
    result.dataset.state = "cancelled";
    result.textContent = "Not installed.";
  };
  $("package-install").onclick = async () => {
    offer.hidden = true;
    const installed = await post("/api/packages", bytes, "application/octet-stream");
    if (installed.status !== 201) return refused(installed);
    const { package: name, version } = installed.body.installed;
    result.dataset.state = "installed";
    result.dataset.status = installed.status;
    result.textContent = `Installed ${name} ${version}.`;
  };
}

function refused({ status, body }) {
  const result = $("upload-result");
  result.dataset.state = "refused";
  result.dataset.status = status;
  result.textContent = body.error || `HTTP ${status}`;
}

$("package-file").addEventListener("change", (e) => {
  const [file] = e.target.files;
  if (file) offerPackage(file);
  e.target.value = "";
});
const drop = $("drop");
drop.addEventListener("dragover", (e) => {
  e.preventDefault();
  drop.classList.add("over");
});
drop.addEventListener("dragleave", () => drop.classList.remove("over"));
drop.addEventListener("drop", (e) => {
  e.preventDefault();
  drop.classList.remove("over");
  const [file] = e.dataTransfer.files;
  if (file) offerPackage(file);
});

connect();
