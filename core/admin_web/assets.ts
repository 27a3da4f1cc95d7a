/**
 * The admin page's stylesheet and script, served by the core itself (no CDN, no build step).
 * They live in this module rather than in files beside it because the core's sandbox may read
 * only its database and image directories.
 */

/** How often the main page refreshes itself, in seconds. */
export const REFRESH_SECONDS = 5;

/** /admin/assets/admin.css */
export const ADMIN_CSS = `
:root { --fg: #1d2430; --muted: #5f6b7a; --line: #d8dee6; --bg: #f6f8fa; --bad: #b42318;
  --ok: #067647; --warn: #b54708; --accent: #2156c9; }
* { box-sizing: border-box; }
body { margin: 0; font: 14px/1.45 system-ui, -apple-system, "Segoe UI", sans-serif;
  color: var(--fg); background: var(--bg); }
header { display: flex; gap: 16px; align-items: center; padding: 10px 20px; background: #1d2430;
  color: #fff; }
header a { color: #fff; text-decoration: none; font-weight: 600; }
header form { margin: 0; }
header .spacer { flex: 1; }
header input[type=search] { width: 22em; }
main { padding: 16px 20px; max-width: 1280px; }
section { background: #fff; border: 1px solid var(--line); border-radius: 6px; padding: 12px 16px;
  margin-bottom: 16px; }
h1 { font-size: 20px; margin: 0 0 12px; }
h2 { font-size: 16px; margin: 0 0 8px; }
table { border-collapse: collapse; width: 100%; }
th, td { text-align: left; padding: 4px 8px; border-bottom: 1px solid var(--line);
  vertical-align: top; }
th { color: var(--muted); font-weight: 600; }
td.num, th.num { text-align: right; font-variant-numeric: tabular-nums; }
code, pre { font: 12px/1.4 ui-monospace, Menlo, Consolas, monospace; }
pre { background: var(--bg); padding: 8px; overflow: auto; max-height: 24em; white-space: pre-wrap;
  word-break: break-word; }
.muted { color: var(--muted); }
td code, td.actions, td.when { white-space: nowrap; }
td.detail code { white-space: pre-wrap; word-break: break-word; }
.error { color: var(--bad); word-break: break-word; }
.banner { padding: 8px 20px; background: #fef0c7; color: #7a2e0e; }
.notice { padding: 8px 12px; margin-bottom: 12px; border-radius: 4px; background: #ecfdf3;
  color: var(--ok); }
.problem { background: #fef3f2; color: var(--bad); }
.state-ok { color: var(--ok); font-weight: 600; }
.state-outage { color: var(--bad); font-weight: 600; }
.state-unknown { color: var(--warn); font-weight: 600; }
.stale { color: var(--bad); font-weight: 600; }
.cols { display: grid; grid-template-columns: minmax(260px, 1fr) 2fr; gap: 16px; }
.cols > section { min-width: 0; }
#model th { width: 40%; }
.grid { display: grid; grid-template-columns: repeat(auto-fit, minmax(150px, 1fr)); gap: 8px; }
.stat { border: 1px solid var(--line); border-radius: 4px; padding: 6px 10px; }
.stat b { display: block; font-size: 20px; }
form.inline { display: inline; margin: 0; }
button { font: inherit; padding: 2px 10px; border: 1px solid var(--line); border-radius: 4px;
  background: #fff; cursor: pointer; }
button.primary { background: var(--accent); border-color: var(--accent); color: #fff; }
button.danger { color: var(--bad); }
.pager { margin-top: 8px; display: flex; gap: 12px; }
.login { max-width: 420px; margin: 60px auto; }
.login input { width: 100%; padding: 6px; margin: 6px 0 12px; font: inherit; }
`;

/**
 * /admin/assets/admin.js: refresh the page's <main> every few seconds without a reload, so
 * scroll position stays; skipped while the tab is hidden or the operator is typing.
 */
export const ADMIN_JS = `"use strict";
(function () {
  var seconds = Number(document.body.getAttribute("data-refresh") || "0");
  if (!seconds) return;
  var busy = false;
  async function refresh() {
    if (busy || document.hidden) return;
    var active = document.activeElement;
    if (active && /^(INPUT|TEXTAREA|SELECT)$/.test(active.tagName)) return;
    busy = true;
    try {
      var res = await fetch(location.href, { credentials: "same-origin" });
      // Signed out meanwhile (or the core restarted): let the server decide what to show.
      if (res.redirected) { location.reload(); return; }
      if (!res.ok) return;
      var doc = new DOMParser().parseFromString(await res.text(), "text/html");
      var next = doc.querySelector("main");
      var current = document.querySelector("main");
      if (next && current) current.replaceWith(document.importNode(next, true));
    } catch (_err) {
      // The core is restarting or the network blinked: the next tick tries again.
    } finally {
      busy = false;
    }
  }
  setInterval(refresh, seconds * 1000);
})();
`;
