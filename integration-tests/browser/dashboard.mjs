// Drives headless Chromium against a running `plexus dashboard` as a person
// would: looks at the page, clicks, confirms, uploads. It prints one JSON
// observation per line ({"check": name, "ok": bool, ...}) for
// tests/dashboard_browser.rs to assert on, and exits 1 if any check failed.
// One failed check does not stop the others, so a run tells all it can.
//
// Input: one JSON argument, see `Setup` in tests/dashboard_browser.rs.

import { execFileSync } from "node:child_process";
import { createHash } from "node:crypto";
import { mkdtempSync, mkdirSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, relative } from "node:path";
import { chromium } from "playwright-core";

const setup = JSON.parse(process.argv[2]);
const FLAGS = [
  "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
  "--disable-background-networking", "--disable-component-update", "--disable-sync",
];
let failed = false;

function observe(check, ok, details = {}) {
  if (!ok) failed = true;
  process.stdout.write(JSON.stringify({ check, ok, ...details }) + "\n");
}

/** Runs one check; an exception is that check's failure, not the script's. */
async function check(name, body) {
  try {
    await body();
  } catch (error) {
    observe(name, false, { error: String(error?.stack || error) });
  }
}

function ps() {
  const out = execFileSync(setup.plexus, ["ps", "--runtime", setup.runtime, "--json"], {
    cwd: setup.cwd,
    env: { ...process.env, ...setup.env },
  });
  return JSON.parse(out).runtimes[0];
}

/** Every file under `dir` with its sha256, so a refusal can be shown to change nothing. */
function snapshot(dir) {
  const files = {};
  const walk = (d) => {
    for (const name of readdirSync(d)) {
      const path = join(d, name);
      if (statSync(path).isDirectory()) walk(path);
      else files[relative(dir, path)] = createHash("sha256").update(readFileSync(path)).digest("hex");
    }
  };
  try {
    walk(dir);
  } catch (error) {
    if (error.code !== "ENOENT") throw error;
  }
  return files;
}

const shot = async (target, name) => {
  const path = join(setup.artifacts, `${name}.png`);
  const bytes = await target.screenshot({ path });
  return bytes;
};

mkdirSync(setup.artifacts, { recursive: true });
const profile = mkdtempSync(join(tmpdir(), "plexus-chromium-"));
const context = await chromium.launchPersistentContext(profile, {
  executablePath: setup.chromium,
  headless: true,
  args: FLAGS,
  viewport: { width: 1400, height: 1100 },
});
const page = context.pages()[0] || (await context.newPage());
const requests = [];
page.on("request", (r) => requests.push(r.url()));
page.on("pageerror", (e) => observe("page_error", false, { error: String(e) }));

try {
  const opened = Date.now();
  await page.goto(setup.url);

  await check("processors", async () => {
    await page.waitForFunction(
      (n) => document.querySelectorAll("#graph [data-processor]").length >= n,
      setup.processors.length,
      { timeout: 10000 },
    );
    const found = await page.$$eval("#graph [data-processor]", (nodes) => nodes.map((n) => n.dataset.processor));
    const rows = await page.$$eval("#workers tr[data-worker]", (rows) => rows.map((r) => r.dataset.worker));
    observe("processors", setup.processors.every((p) => found.includes(p)), { found, rows });
  });

  await check("edges_move", async () => {
    const moving = () =>
      [...document.querySelectorAll("#graph [data-edge]")].every((e) => Number(e.dataset.fps) > 0);
    const ok = await page.waitForFunction(moving, null, { timeout: 3000 }).then(() => true, () => false);
    const edges = await page.$$eval("#graph [data-edge]", (es) =>
      es.map((e) => ({ edge: e.dataset.edge, fps: Number(e.dataset.fps), label: e.textContent })),
    );
    observe("edges_move", ok && edges.length > 0, { within_ms: Date.now() - opened, edges });
  });

  await check("preview_changes", async () => {
    await page.locator(`[data-edge="${setup.preview_edge}"] text`).click();
    const img = page.locator("#preview");
    const seqOf = () => img.getAttribute("data-seq");
    await page.waitForFunction(() => document.getElementById("preview").dataset.seq !== "", null, { timeout: 10000 });
    const first = await seqOf();
    const a = await shot(img, "preview-1");
    await page.waitForFunction((s) => document.getElementById("preview").dataset.seq !== s, first, { timeout: 10000 });
    const second = await seqOf();
    const b = await shot(img, "preview-2");
    const label = await page.locator("#preview-label").textContent();
    observe("preview_changes", !a.equals(b), { label, seqs: [first, second], bytes: [a.length, b.length] });
  });

  await check("killed_worker_restart_shown", async () => {
    const victim = setup.kill_worker;
    const before = ps().workers.find((w) => w.worker === victim);
    process.kill(before.pid, "SIGKILL");
    const rising = `#workers tr[data-worker="${victim}"][data-restarts="${before.restarts + 1}"]`;
    await page.waitForSelector(rising, { timeout: 60000, state: "attached" });
    const node = await page.getAttribute(`#graph [data-processor="${victim}"]`, "data-restarts");
    observe("killed_worker_restart_shown", Number(node) === before.restarts + 1, {
      worker: victim,
      pid: before.pid,
      restarts_before: before.restarts,
      node_restarts: Number(node),
    });
  });

  await check("restart_from_page", async () => {
    const worker = setup.restart_worker;
    const newest = await page.$$eval("#events li", (lis) => Math.max(-1, ...lis.map((li) => Number(li.dataset.seq))));
    await page.click(`#workers tr[data-worker="${worker}"] button[data-action="restart"]`);
    const dialog = page.locator("#confirm");
    await dialog.waitFor({ state: "visible" });
    const asked = await page.locator("#confirm-message").textContent();
    await shot(page, "confirm");
    await page.click("#confirm-yes");
    const after = (kinds) =>
      page.waitForFunction(
        ({ worker, kinds, newest }) =>
          [...document.querySelectorAll("#events li")].some(
            (li) => kinds.includes(li.dataset.kind) && li.dataset.worker === worker && Number(li.dataset.seq) > newest,
          ),
        { worker, kinds, newest },
        { timeout: 60000 },
      );
    await after(["worker_restarting", "worker_restarted"]);
    await after(["worker_ready"]);
    const result = await page.locator("#action-result").getAttribute("data-state");
    const kinds = await page.$$eval(
      `#events li[data-worker="${worker}"]`,
      (lis, newest) => lis.filter((li) => Number(li.dataset.seq) > newest).map((li) => li.dataset.kind),
      newest,
    );
    observe("restart_from_page", result === "ok", { worker, asked, result, kinds });
  });

  await check("upload", async () => {
    const store = join(setup.data_dir, "packages");
    const outcome = async (file) => {
      await page.setInputFiles("#package-file", file);
      await page.waitForFunction(
        () => ["inspected", "refused"].includes(document.getElementById("upload-result").dataset.state),
        null,
        { timeout: 30000 },
      );
      const inspected = await page.$$eval("#package-processors li", (lis) => lis.map((li) => li.dataset.type));
      if ((await page.getAttribute("#upload-result", "data-state")) === "inspected") {
        await page.click("#package-install");
        await page.waitForFunction(
          () => ["installed", "refused"].includes(document.getElementById("upload-result").dataset.state),
          null,
          { timeout: 60000 },
        );
      }
      const result = page.locator("#upload-result");
      return {
        file,
        inspected,
        state: await result.getAttribute("data-state"),
        status: Number(await result.getAttribute("data-status")),
        text: await result.textContent(),
      };
    };
    const installs = [];
    for (const file of setup.packages) installs.push(await outcome(file));
    await shot(page, "upload");
    const before = snapshot(store);
    const hostile = await outcome(setup.hostile_archive);
    const duplicate = await outcome(setup.packages[0]);
    const unchanged = JSON.stringify(before) === JSON.stringify(snapshot(store));
    const ok =
      installs.every((i) => i.state === "installed" && i.inspected.length > 0) &&
      hostile.state === "refused" && hostile.status === 400 &&
      duplicate.state === "refused" && duplicate.status === 409 && unchanged;
    observe("upload", ok, { installs, hostile, duplicate, store_unchanged: unchanged, store_files: Object.keys(before).length });
  });

  for (const { processor, reports } of setup.panels) {
    await check(`panel_${processor}`, async () => {
      const selector = `.panel[data-panel-processor="${processor}"]`;
      // The named reports, or for a panel whose report names are its own
      // business, any report at all.
      await page.waitForFunction(
        ({ selector, reports }) => {
          const el = document.querySelector(selector);
          const names = el ? el.getAttributeNames().filter((a) => a.startsWith("data-report-")) : [];
          return reports.length ? reports.every((r) => names.includes(`data-report-${r}`)) : names.length > 0;
        },
        { selector, reports },
        { timeout: 60000 },
      );
      const attrs = await page.$eval(selector, (el) =>
        Object.fromEntries([...el.attributes].filter((a) => a.name.startsWith("data-")).map((a) => [a.name, a.value])),
      );
      await page.locator(selector).scrollIntoViewIfNeeded();
      await shot(page.locator(selector), `panel-${processor}`);
      observe(`panel_${processor}`, !("data-report-error" in attrs), { attributes: attrs });
    });
  }

  await page.evaluate(() => window.scrollTo(0, 0));
  await shot(page, "dashboard");
} finally {
  await context.close();
  rmSync(profile, { recursive: true, force: true });
}
writeFileSync(join(setup.artifacts, "requests.txt"), requests.join("\n") + "\n");
process.exit(failed ? 1 : 0);
