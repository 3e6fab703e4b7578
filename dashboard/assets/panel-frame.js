// The bootstrap inside a package panel's sandboxed iframe. The frame has an
// opaque origin and may reach nothing, so everything the panel gets comes
// from the dashboard page through postMessage; this script turns that into
// the panel module API of docs/panels.md and mounts the package's module,
// which it imports from the inert <script type="application/json" id="plexus-panel">
// through a blob: URL (the frame's CSP allows blob: scripts and nothing else).
"use strict";
(() => {
  const parentWindow = window.parent;
  const send = (message) => parentWindow.postMessage(message, "*");
  const frameCallbacks = new Map(); // port -> [cb]
  const eventCallbacks = [];
  const pending = new Map(); // set id -> {resolve, reject}
  let nextId = 1;
  let info = null;
  let config = {};

  function fail(error) {
    const box = document.createElement("pre");
    box.className = "plexus-panel-error";
    box.textContent = `panel failed: ${error}`;
    document.body.append(box);
    send({ plexus: "report", name: "error", value: String(error) });
  }

  const api = {
    get processor() {
      return info.processor;
    },
    get type() {
      return info.type;
    },
    get ports() {
      return [...info.ports];
    },
    config() {
      return structuredClone(config);
    },
    subscribe(port, cb) {
      if (!info.ports.includes(port)) throw new Error(`port \`${port}\` is not one this panel declares`);
      if (!frameCallbacks.has(port)) {
        frameCallbacks.set(port, []);
        send({ plexus: "subscribe", port });
      }
      frameCallbacks.get(port).push(cb);
    },
    onEvent(cb) {
      if (eventCallbacks.length === 0) send({ plexus: "events" });
      eventCallbacks.push(cb);
    },
    set(changes) {
      const id = nextId++;
      send({ plexus: "set", id, changes });
      return new Promise((resolve, reject) => pending.set(id, { resolve, reject }));
    },
    report(name, value) {
      send({ plexus: "report", name, value });
    },
  };

  async function mount() {
    // The module's text as a JSON string (so nothing in it could end its element).
    const source = JSON.parse(document.getElementById("plexus-panel")?.textContent ?? '""');
    const url = URL.createObjectURL(new Blob([source], { type: "text/javascript" }));
    try {
      const module = await import(url);
      if (typeof module.default !== "function") throw new Error("the panel module has no default export function");
      const root = document.getElementById("root") || document.body;
      await module.default(root, api);
    } finally {
      URL.revokeObjectURL(url);
    }
  }

  const deliver = (callbacks, value) => {
    for (const cb of callbacks) {
      try {
        cb(value);
      } catch (error) {
        console.error(error);
      }
    }
  };

  window.addEventListener("message", (e) => {
    // Only the dashboard page, never another frame.
    if (e.source !== parentWindow) return;
    const m = e.data;
    if (!m || typeof m !== "object") return;
    switch (m.plexus) {
      case "init":
        if (info) return;
        info = { processor: m.processor, type: m.type, ports: m.ports || [] };
        config = m.config || {};
        mount().catch(fail);
        break;
      case "frame":
        deliver(frameCallbacks.get(m.port) || [], {
          port: m.port,
          seq: m.seq,
          width: m.width,
          height: m.height,
          rgba: new Uint8ClampedArray(m.rgba),
        });
        break;
      case "event":
        deliver(eventCallbacks, m.event);
        break;
      case "config":
        config = m.config || {};
        break;
      case "reply": {
        const waiting = pending.get(m.id);
        pending.delete(m.id);
        if (waiting && m.ok) waiting.resolve();
        else if (waiting) waiting.reject(new Error(m.error || "refused"));
        break;
      }
    }
  });

  send({ plexus: "ready" });
})();
